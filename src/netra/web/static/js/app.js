// The chat page: wires the session, the live connection and the timeline to the DOM.
//
// Only the public contracts are used: REST under /api and the WebSocket at /ws.
// `window.netra` is a small, deliberate handle for debugging and the browser
// tests (state, drop/pause/resume the connection, refresh the token); it exposes
// nothing a script on this page could not already reach.

import { LiveConnection } from "./socket.js";
import { ApiError, Session, SessionEnded } from "./session.js";
import { Timeline, el } from "./timeline.js";
import { describeError } from "./words.js";

const $ = (id) => document.getElementById(id);
const ui = {
  authView: $("auth-view"),
  authForm: $("auth-form"),
  authTitle: $("auth-title"),
  authError: $("auth-error"),
  authSubmit: $("auth-submit"),
  authSwitch: $("auth-switch"),
  authSwitchText: $("auth-switch-text"),
  email: $("email"),
  password: $("password"),
  passwordHint: $("password-hint"),
  displayName: $("display-name"),
  displayNameRow: $("display-name-row"),
  chatView: $("chat-view"),
  account: $("account"),
  accountName: $("account-name"),
  logout: $("logout"),
  connection: $("connection"),
  connectionText: $("connection-text"),
  connectionCountdown: $("connection-countdown"),
  sidebar: $("sidebar"),
  threadsToggle: $("threads-toggle"),
  newThread: $("new-thread"),
  threadList: $("thread-list"),
  threadListEmpty: $("thread-list-empty"),
  threadTitle: $("thread-title"),
  chatError: $("chat-error"),
  timeline: $("timeline"),
  emptyHint: $("empty-hint"),
  skipLink: $("skip-link"),
  composer: $("composer"),
  message: $("message"),
  send: $("send"),
  stop: $("stop"),
  announcer: $("announcer"),
};

const SIGNED_OUT_WORDS = {
  logged_out: "You have logged out.",
  signed_out_elsewhere: "You logged out in another tab.",
  revoked: describeError("refresh_token_reused"),
  expired: describeError("invalid_refresh_token"),
};

const state = {
  mode: "login", // or "register"
  threadId: null, // the open thread; null for a new chat not yet sent
  loading: null, // the thread whose history is loading
  threads: [],
  userId: null,
  stopping: null, // run id a cancel was sent for
};

// -- helpers ------------------------------------------------------------------
function announce(words) {
  ui.announcer.append(el("p", {}, words));
  while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
}

function showError(node, error) {
  const words = typeof error === "string" ? error : error.message;
  node.textContent = words;
  node.hidden = !words;
}

function newClientMsgId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

function isNarrow() {
  return window.matchMedia("(max-width: 760px)").matches;
}

const timeline = new Timeline(ui.timeline, announce);
const session = new Session(onSessionChange);
const live = new LiveConnection({
  session,
  onFrame,
  onReady: resubscribe,
  onState: showConnection,
  onSignedOut: () => session.end("expired"),
});

// -- signed in / signed out ---------------------------------------------------
function onSessionChange(current, reason) {
  if (!current) {
    live.stop();
    showSignedOut(SIGNED_OUT_WORDS[reason] || "");
    return;
  }
  if (reason === "rotated" && current.user.id === state.userId) {
    live.reauth(current.access_token); // keep the open socket alive with the new token
    return;
  }
  showSignedIn();
}

function showSignedOut(words) {
  state.userId = null;
  state.threadId = null;
  state.loading = null;
  state.stopping = null;
  // Hidden is not gone: leave nothing of this person for whoever signs in next.
  state.threads = [];
  renderThreads();
  timeline.clear();
  setTitle("New chat");
  showError(ui.chatError, "");
  ui.message.value = "";
  ui.accountName.textContent = "";
  ui.accountName.title = "";
  ui.announcer.replaceChildren();
  ui.chatView.hidden = true;
  ui.account.hidden = true;
  ui.threadsToggle.hidden = true;
  ui.connection.hidden = true;
  ui.authView.hidden = false;
  ui.password.value = "";
  showError(ui.authError, words);
  ui.authError.classList.toggle("info", words === SIGNED_OUT_WORDS.logged_out);
  if (location.hash) history.replaceState(null, "", location.pathname);
  ui.email.focus();
}

function showSignedIn() {
  const user = session.user;
  state.userId = user.id;
  ui.authView.hidden = true;
  ui.chatView.hidden = false;
  ui.account.hidden = false;
  ui.threadsToggle.hidden = false;
  ui.connection.hidden = false;
  ui.accountName.textContent = user.display_name || user.email;
  ui.accountName.title = user.email;
  live.start();
  loadThreads();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash.startsWith("thr_")) openThread(fromHash, { focus: false });
  else newChat({ focus: true });
}

function setMode(mode) {
  state.mode = mode;
  const registering = mode === "register";
  ui.authTitle.textContent = registering ? "Create an account" : "Log in";
  ui.authSubmit.textContent = registering ? "Create account" : "Log in";
  ui.authSwitchText.textContent = registering ? "Have an account?" : "New here?";
  ui.authSwitch.textContent = registering ? "Log in instead" : "Create an account";
  ui.displayNameRow.hidden = !registering;
  ui.passwordHint.hidden = !registering;
  ui.password.autocomplete = registering ? "new-password" : "current-password";
  showError(ui.authError, "");
}

async function submitAuth(event) {
  event.preventDefault();
  const email = ui.email.value.trim();
  const password = ui.password.value;
  if (!email || !password) {
    showError(ui.authError, "Enter your email and password.");
    (email ? ui.password : ui.email).focus();
    return;
  }
  ui.authSubmit.disabled = true;
  showError(ui.authError, "");
  try {
    if (state.mode === "register") {
      await session.register(email, password, ui.displayName.value.trim());
    } else {
      await session.login(email, password);
    }
    ui.password.value = "";
  } catch (error) {
    ui.authError.classList.remove("info");
    showError(ui.authError, error);
  } finally {
    ui.authSubmit.disabled = false;
  }
}

// -- threads ------------------------------------------------------------------
async function loadThreads() {
  try {
    state.threads = await session.api("GET", "/api/threads");
  } catch (error) {
    if (!(error instanceof SessionEnded)) showError(ui.chatError, error);
    return;
  }
  renderThreads();
}

function renderThreads() {
  ui.threadList.replaceChildren(
    ...state.threads.map((thread) => {
      const when = new Date(thread.updated_at);
      const button = el(
        "button",
        {
          type: "button",
          class: "thread",
          "data-thread-id": thread.id,
          "aria-current": thread.id === state.threadId ? "page" : null,
        },
        el("span", { class: "thread-name" }, thread.title),
        el("time", { class: "thread-when", datetime: thread.updated_at },
          when.toLocaleDateString() === new Date().toLocaleDateString()
            ? when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
            : when.toLocaleDateString()),
      );
      button.addEventListener("click", () => {
        openThread(thread.id, { focus: true });
        if (isNarrow()) toggleSidebar(false);
      });
      return el("li", {}, button);
    }),
  );
  ui.threadListEmpty.hidden = state.threads.length > 0;
}

function setTitle(text) {
  ui.threadTitle.textContent = text;
  document.title = text === "New chat" ? "Netra" : `${text} · Netra`;
}

function newChat({ focus }) {
  state.threadId = null;
  state.loading = null;
  timeline.clear();
  setTitle("New chat");
  showError(ui.chatError, "");
  if (location.hash) history.pushState(null, "", location.pathname);
  renderThreads();
  updateControls();
  if (focus) ui.message.focus();
}

async function fetchEvents(threadId) {
  const events = [];
  for (;;) {
    const after = events.length ? events[events.length - 1].seq : 0;
    const page = await session.api("GET", `/api/threads/${encodeURIComponent(threadId)}/events?after_seq=${after}&limit=1000`);
    events.push(...page);
    if (page.length < 1000) return events;
  }
}

/** Show a thread's history (REST), then follow it live from the last seq shown. */
async function openThread(threadId, { focus }) {
  state.threadId = threadId;
  state.loading = threadId;
  timeline.clear();
  showError(ui.chatError, "");
  const known = state.threads.find((t) => t.id === threadId);
  setTitle(known ? known.title : "Loading…");
  if (location.hash !== `#${threadId}`) history.pushState(null, "", `#${threadId}`);
  renderThreads();
  updateControls();
  const path = `/api/threads/${encodeURIComponent(threadId)}`;
  let thread, messages, events;
  try {
    [thread, messages, events] = await Promise.all([
      session.api("GET", path),
      session.api("GET", `${path}/messages`),
      fetchEvents(threadId),
    ]);
  } catch (error) {
    if (state.loading !== threadId) return;
    state.loading = null;
    if (error instanceof SessionEnded) return;
    setTitle("Chat not found");
    showError(ui.chatError, error);
    return;
  }
  if (state.loading !== threadId) return; // the person opened something else meanwhile
  state.loading = null;
  setTitle(thread.title);
  timeline.showMessages(messages);
  for (const event of events) timeline.apply(event, { live: false });
  subscribe();
  updateControls();
  scrollToEnd(true);
  if (focus) ui.threadTitle.focus();
}

function subscribe() {
  if (state.threadId && !state.loading) {
    live.send({ type: "subscribe", thread_id: state.threadId, after_seq: timeline.lastSeq });
  }
}

/** After every (re)connect: resume the open thread from the last event shown. */
function resubscribe() {
  for (const clientMsgId of [...timeline.pending.keys()]) timeline.unconfirmed(clientMsgId);
  subscribe();
  updateControls();
  if (!state.threadId) loadThreads();
}

// -- frames from the server ---------------------------------------------------
function onFrame(frame) {
  switch (frame.type) {
    case "run_accepted":
      if (!state.threadId && timeline.pending.has(frame.client_msg_id)) {
        state.threadId = frame.thread_id; // a new chat got its thread
        history.pushState(null, "", `#${frame.thread_id}`);
        loadThreads().then(() => {
          const thread = state.threads.find((t) => t.id === frame.thread_id);
          if (thread && state.threadId === thread.id) setTitle(thread.title);
        });
      }
      if (frame.thread_id === state.threadId) timeline.accepted(frame.client_msg_id, frame.run_id);
      break;
    case "error":
      onErrorFrame(frame);
      break;
    case "subscribed":
    case "cancel_accepted":
      break;
    default:
      if (frame.event_id) onEvent(frame);
  }
  updateControls();
}

function onEvent(event) {
  if (event.thread_id !== state.threadId || state.loading) {
    if (event.type === "agent_completed" || event.type === "agent_started") loadThreads();
    return; // another thread's run: its history is read when it is opened
  }
  const nearEnd = isNearEnd();
  const outcome = timeline.apply(event);
  if (outcome === "gap") {
    subscribe(); // the server replays from the last seq shown; this event comes again
    return;
  }
  if (outcome === "shown") {
    if (Timeline.isTerminal(event)) {
      state.stopping = null;
      loadThreads();
    }
    scrollToEnd(nearEnd);
  }
}

function onErrorFrame(frame) {
  const words = describeError(frame.code, frame.message);
  if (frame.client_msg_id && timeline.pending.has(frame.client_msg_id)) {
    timeline.refused(frame.client_msg_id, words);
    return;
  }
  if (frame.code === "subscription_failed" && frame.thread_id === state.threadId) {
    subscribe();
    return;
  }
  if (frame.code === "token_expired" || frame.code === "token_invalid") {
    // A re-auth frame was refused: renew the token and offer the new one.
    session.refresh().then(() => live.reauth(session.current.access_token), () => {});
    return;
  }
  if (frame.code === "run_not_active") {
    state.stopping = null; // the run ended before the cancel arrived
    return;
  }
  showError(ui.chatError, words);
}

// -- composer -----------------------------------------------------------------
function updateControls() {
  const active = timeline.activeRun;
  const busy = Boolean(active) || timeline.sending || Boolean(state.loading);
  // Send and Stop swap places; keep keyboard focus from falling off the page.
  const focused = document.activeElement;
  const focusWasOn = focused === ui.send || focused === ui.stop ? focused : null;
  ui.send.disabled = busy || !live.ready;
  ui.send.hidden = Boolean(active); // Stop takes its place while a run is going
  ui.stop.hidden = !active;
  ui.stop.disabled = Boolean(active && state.stopping === active.runId);
  ui.stop.textContent = ui.stop.disabled ? "Stopping…" : "Stop";
  if (focusWasOn && focusWasOn.hidden) ui.message.focus();
  ui.emptyHint.hidden = !timeline.isEmpty || Boolean(state.loading);
}

function send(event) {
  event.preventDefault();
  const text = ui.message.value.trim();
  if (!text) {
    ui.message.focus();
    return;
  }
  if (!live.ready) {
    showError(ui.chatError, "Not connected yet. Your message is still in the box; send it once connected.");
    return;
  }
  if (ui.send.disabled) return;
  showError(ui.chatError, "");
  const clientMsgId = newClientMsgId();
  const frame = { type: "user_message", text, client_msg_id: clientMsgId };
  if (state.threadId) frame.thread_id = state.threadId;
  timeline.addOutgoing(clientMsgId, text);
  live.send(frame);
  ui.message.value = "";
  fitMessageBox();
  updateControls();
  scrollToEnd(true);
}

async function stop() {
  const run = timeline.activeRun;
  if (!run || !run.runId) return;
  state.stopping = run.runId;
  updateControls();
  if (live.send({ type: "cancel", run_id: run.runId })) return;
  try {
    await session.api("POST", `/api/runs/${encodeURIComponent(run.runId)}/cancel`);
  } catch (error) {
    state.stopping = null;
    if (!(error instanceof ApiError && error.code === "run_not_active")) showError(ui.chatError, error);
    updateControls();
  }
}

function fitMessageBox() {
  ui.message.style.height = "auto";
  ui.message.style.height = `${Math.min(ui.message.scrollHeight, window.innerHeight * 0.4)}px`;
}

function isNearEnd() {
  const t = ui.timeline;
  return t.scrollHeight - t.scrollTop - t.clientHeight < 120;
}

function scrollToEnd(force) {
  if (force) ui.timeline.scrollTop = ui.timeline.scrollHeight;
}

// -- connection state ---------------------------------------------------------
const RECONNECTING = "Offline. Reconnecting";

function showConnection(connection, detail) {
  // The words are a live region (role=status), so they change only with the state:
  // an outage is announced once, not at every attempt. The countdown is not announced.
  const words = {
    connecting: detail.again ? RECONNECTING : "Connecting…",
    online: "Connected",
    waiting: RECONNECTING,
    paused: "Offline (paused)",
    stopped: "Not connected",
  }[connection];
  ui.connection.dataset.state = connection;
  if (ui.connectionText.textContent !== words) ui.connectionText.textContent = words;
  ui.connectionCountdown.textContent = connection === "waiting" ? `in ${detail.seconds} s` : "";
  ui.connection.title = detail.reason || "";
  updateControls();
}

function toggleSidebar(open) {
  const show = open ?? ui.threadsToggle.getAttribute("aria-expanded") !== "true";
  ui.threadsToggle.setAttribute("aria-expanded", String(show));
  ui.sidebar.classList.toggle("open", show);
  if (show) ui.newThread.focus();
}

// -- wiring -------------------------------------------------------------------
ui.authForm.addEventListener("submit", submitAuth);
ui.authSwitch.addEventListener("click", () => setMode(state.mode === "login" ? "register" : "login"));
ui.logout.addEventListener("click", () => session.logout());
ui.newThread.addEventListener("click", () => {
  newChat({ focus: true });
  if (isNarrow()) toggleSidebar(false);
});
ui.threadsToggle.addEventListener("click", () => toggleSidebar());
ui.skipLink.addEventListener("click", (event) => {
  // Following its #message fragment would fire popstate, which reads "no chat id" as
  // "start a new chat" and would close the open one.
  event.preventDefault();
  ui.message.focus();
});
ui.composer.addEventListener("submit", send);
ui.stop.addEventListener("click", stop);
ui.message.addEventListener("input", fitMessageBox);
ui.message.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) send(event);
});
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && ui.sidebar.classList.contains("open")) {
    toggleSidebar(false);
    ui.threadsToggle.focus();
  }
});
window.addEventListener("popstate", () => {
  if (!state.userId) return;
  const threadId = decodeURIComponent(location.hash.slice(1));
  if (threadId.startsWith("thr_")) openThread(threadId, { focus: true });
  else newChat({ focus: true });
});

window.netra = Object.freeze({
  get state() {
    return {
      threadId: state.threadId,
      lastSeq: timeline.lastSeq,
      connection: live.state,
      connects: live.connects,
    };
  },
  drop: () => live.drop(),
  pause: () => live.pause(),
  resume: () => live.resume(),
  refresh: () => session.refresh().then(() => "refreshed", (error) => error.message),
});

setMode("login");
if (session.current) {
  showSignedIn();
  // Check the stored login is still good (refreshing if needed) and pick up name changes.
  session.api("GET", "/api/me").then((user) => {
    ui.accountName.textContent = user.display_name || user.email;
  }, () => {});
} else {
  showSignedOut("");
}
document.body.dataset.ready = "true";
