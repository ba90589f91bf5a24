// The WebSocket to /ws (DESIGN section 4): authenticate, keep it alive, and
// reconnect with backoff when it drops. What to resubscribe after a reconnect
// is the page's business: `onReady` runs after every `auth_ok` of a new socket.

import { SessionEnded } from "./session.js";
import { describeClose } from "./words.js";

const FIRST_DELAY = 500; // ms before the first reconnect attempt
const MAX_DELAY = 30_000;
const SLOW_DOWN_DELAY = 5_000; // at least this long after 4429 (too many frames)
const PING_EVERY = 25_000; // an app-level ping notices a dead socket the browser has not
const PONG_WITHIN = 10_000;
// A socket that has not said auth_ok by then is given up on: a dead network can leave
// a connect attempt hanging for minutes without an error.
const CONNECT_WITHIN = 8_000;

/**
 * One logical connection that survives drops. States, reported to `onState`:
 * "connecting", "online", "waiting" (with the seconds until the next try),
 * "paused" and "stopped".
 */
export class LiveConnection {
  constructor({ session, onFrame, onReady, onState, onSignedOut }) {
    this.session = session;
    this.onFrame = onFrame;
    this.onReady = onReady;
    this.onState = onState;
    this.onSignedOut = onSignedOut;
    this.socket = null;
    this.ready = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.countdown = null;
    this.pingTimer = null;
    this.pongTimer = null;
    this.connectTimer = null;
    this.state = "stopped";
    this.wanted = false; // false after stop() or pause(): do not reconnect
    this.connects = 0; // sockets that reached auth_ok; exposed for debugging
    // The browser knows first when the network goes: do not wait for a ping to time out.
    window.addEventListener("offline", () => {
      if (this.socket) this.abandon(this.socket, "offline");
    });
    window.addEventListener("online", () => this.wanted && !this.socket && this.connectNow());
  }

  setState(state, detail = {}) {
    this.state = state;
    this.onState(state, detail);
  }

  /** Connect and keep connecting until stop(). */
  start() {
    this.wanted = true;
    if (!this.socket && !this.retryTimer) this.connect();
  }

  /** Close for good (logging out). */
  stop() {
    this.wanted = false;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    if (socket) socket.close(1000, "signed out");
    this.setState("stopped");
  }

  /** Debugging and tests: close the socket as a network drop would; it reconnects. */
  drop() {
    if (this.socket) this.abandon(this.socket);
  }

  /** Give up on a socket now: a dead network may take minutes to report the close. */
  abandon(socket, why = null) {
    socket.close(4000, "abandoned by the page");
    this.closed(socket, { code: 1006, why });
  }

  /** Debugging and tests: go offline and stay offline until resume(). */
  pause() {
    this.wanted = false;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    if (socket) socket.close(1000, "paused");
    this.setState("paused");
  }

  resume() {
    this.wanted = true;
    this.connectNow();
  }

  connectNow() {
    this.clearTimers();
    this.attempt = 0;
    if (!this.socket) this.connect();
  }

  /** Send a frame if the connection is authenticated; returns whether it went out. */
  send(frame) {
    if (!this.ready || !this.socket) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /** A refreshed access token extends the open connection's life (a re-auth frame). */
  reauth(token) {
    if (this.ready && this.socket) this.socket.send(JSON.stringify({ type: "auth", token }));
  }

  async connect() {
    this.retryTimer = null;
    // `again`: this is a reconnect, part of an outage the page already reported.
    this.setState("connecting", { again: this.connects > 0 || this.attempt > 0 });
    let token;
    try {
      token = await this.session.accessToken();
    } catch (error) {
      if (error instanceof SessionEnded) return this.onSignedOut();
      return this.retry(null); // offline: try again later
    }
    if (!this.wanted || this.socket) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket = socket;
    this.connectTimer = setTimeout(() => this.abandon(socket, "no_answer"), CONNECT_WITHIN);
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token }));
    });
    socket.addEventListener("message", (event) => this.received(socket, event));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  received(socket, event) {
    if (socket !== this.socket) return;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    clearTimeout(this.pongTimer);
    if (frame.type === "auth_ok" && !this.ready) {
      clearTimeout(this.connectTimer);
      this.ready = true;
      this.attempt = 0;
      this.connects += 1;
      this.keepAlive();
      this.setState("online");
      this.onReady();
      return;
    }
    if (frame.type === "pong" || frame.type === "auth_ok") return;
    this.onFrame(frame);
  }

  async closed(socket, event) {
    if (socket !== this.socket) return; // an old socket we already replaced or closed
    this.socket = null;
    this.ready = false;
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.connectTimer);
    if (!this.wanted) return;
    if (event.code === 4401) {
      // The access token was refused or ran out: renew it, then reconnect at once
      // (unless that already happened just before, then back off like any drop).
      try {
        if (this.attempt === 0) {
          await this.session.refresh();
          this.attempt = 1;
          if (this.wanted && !this.socket) this.connect();
          return;
        }
      } catch (error) {
        if (error instanceof SessionEnded) return this.onSignedOut();
      }
    }
    this.retry(event.code, event.why);
  }

  retry(code, why = null) {
    const base = Math.min(MAX_DELAY, FIRST_DELAY * 2 ** this.attempt);
    let delay = base / 2 + Math.random() * (base / 2); // jitter: many pages must not retry in step
    if (code === 4429) delay = Math.max(delay, SLOW_DOWN_DELAY);
    this.attempt += 1;
    const due = Date.now() + delay;
    const offline = why === "offline" || navigator.onLine === false;
    const reason = offline ? "This device is offline" : describeClose(code, why);
    const tick = () => {
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      this.setState("waiting", { seconds, reason, offline });
    };
    tick();
    this.countdown = setInterval(tick, 1000);
    this.retryTimer = setTimeout(() => {
      clearInterval(this.countdown);
      this.connect();
    }, delay);
  }

  keepAlive() {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      const socket = this.socket;
      this.pongTimer = setTimeout(() => socket && this.abandon(socket), PONG_WITHIN);
    }, PING_EVERY);
  }

  clearTimers() {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdown);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
    clearTimeout(this.connectTimer);
    this.retryTimer = null;
  }
}
