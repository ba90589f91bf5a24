// The signed-in session and every REST call (DESIGN section 3).
//
// Tokens live in localStorage so a reload keeps the person signed in. Refresh
// tokens rotate and a spent one revokes the whole login, so refreshing is
// careful: one refresh at a time in this tab (a shared promise) and across tabs
// (a Web Lock, where the browser has them); inside the lock a tab first checks
// whether another tab already rotated the token and, if so, adopts that pair.
//
// That check cannot read localStorage: it is not coherent across tabs (Chromium
// hands a write to the other tabs' processes asynchronously, so a tab can still
// read the spent token after the tab that rotated it released the lock, present
// it, and revoke the login). The session is therefore mirrored in IndexedDB,
// whose transactions are ordered for the whole origin: a write that completed
// before the lock was released is seen by a read started after it was granted.

import { describeError } from "./words.js";

const STORAGE_KEY = "netra.session";
const LOCK_NAME = "netra.refresh";
const MIRROR_DB = "netra";
const MIRROR_STORE = "session";
// Refresh when less than this share of the access token's life is left.
const REFRESH_AHEAD = 0.2;

/** A REST error with the server's code and a sentence for the person. */
export class ApiError extends Error {
  constructor(status, code, serverMessage, retryAfter = null) {
    super(describeError(code, serverMessage, { retryAfter }));
    this.status = status;
    this.code = code;
    this.serverMessage = serverMessage;
  }
}

/** The login is over (logged out, revoked or expired): sign in again. */
export class SessionEnded extends Error {}

function readStored() {
  try {
    const value = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    return value && value.access_token && value.refresh_token ? value : null;
  } catch {
    return null;
  }
}

let mirrorDb = null;

function openMirror() {
  return new Promise((resolve) => {
    if (!window.indexedDB) return resolve(null);
    const open = indexedDB.open(MIRROR_DB, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(MIRROR_STORE);
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => resolve(null);
  });
}

/** Run one request on the mirror; resolves when its transaction has committed. */
async function onMirror(mode, action) {
  mirrorDb ||= openMirror();
  const db = await mirrorDb;
  if (!db) throw new Error("IndexedDB is not available");
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(MIRROR_STORE, mode);
    const request = action(transaction.objectStore(MIRROR_STORE));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = transaction.onabort = () => reject(transaction.error);
  });
}

function writeMirror(session) {
  // A signed-out record (not a deleted one) tells "logged out" from "never mirrored".
  return onMirror("readwrite", (store) => store.put({ session }, "current")).catch(() => {});
}

/** The stored session as every tab sees it now: the mirror, else localStorage. */
async function readCoherent() {
  const record = await onMirror("readonly", (store) => store.get("current")).catch(() => null);
  return record ? record.session : readStored();
}

function fromBody(body) {
  return {
    user: body.user,
    access_token: body.access_token,
    refresh_token: body.refresh_token,
    expires_at: Date.now() + body.expires_in * 1000,
    lifetime: body.expires_in * 1000,
  };
}

async function request(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "network", "");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText,
      response.headers.get("Retry-After"),
    );
  }
  return data;
}

/**
 * The person's session: tokens, refresh, and authenticated REST calls.
 * `onChange(session|null, reason)` is called whenever tokens change or the login ends.
 */
export class Session {
  constructor(onChange) {
    this.current = readStored();
    this.onChange = onChange;
    this.inflight = null;
    this.timer = null;
    // Another tab signed in, refreshed or signed out: follow it.
    window.addEventListener("storage", (event) => {
      if (event.key !== STORAGE_KEY) return;
      const stored = readStored();
      const before = this.current;
      this.current = stored;
      this.schedule();
      if (!stored && before) this.onChange(null, "signed_out_elsewhere");
      else if (stored) this.onChange(stored, before ? "rotated" : "signed_in");
    });
    this.schedule();
  }

  get user() {
    return this.current && this.current.user;
  }

  /** Store the session (or its end); resolves once every tab would read it. */
  save(session) {
    this.current = session;
    if (session) localStorage.setItem(STORAGE_KEY, JSON.stringify(session));
    else localStorage.removeItem(STORAGE_KEY);
    this.schedule();
    return writeMirror(session);
  }

  async register(email, password, displayName) {
    const body = { email, password };
    if (displayName) body.display_name = displayName;
    await this.save(fromBody(await request("POST", "/api/auth/register", { body })));
    this.onChange(this.current, "signed_in");
  }

  async login(email, password) {
    const body = { email, password };
    await this.save(fromBody(await request("POST", "/api/auth/login", { body })));
    this.onChange(this.current, "signed_in");
  }

  /** Revoke the login on the server (best effort) and forget it here. */
  async logout() {
    const ending = this.current;
    this.save(null);
    this.onChange(null, "logged_out");
    if (ending) {
      await request("POST", "/api/auth/logout", {
        body: { refresh_token: ending.refresh_token },
      }).catch(() => {});
    }
  }

  /** End the session locally because the server no longer accepts it. */
  end(reason) {
    if (!this.current) return;
    this.save(null);
    this.onChange(null, reason);
  }

  /** A usable access token, refreshed first if it is about to expire. */
  async accessToken() {
    if (!this.current) throw new SessionEnded("signed out");
    if (this.current.expires_at - Date.now() < 10_000) await this.refresh();
    return this.current.access_token;
  }

  /**
   * Rotate the refresh token. Concurrent callers share one request; other tabs
   * wait on the lock and then adopt the pair this tab stored.
   */
  refresh() {
    if (!this.inflight) {
      const spent = this.current && this.current.refresh_token;
      const rotate = () => this.rotate(spent);
      const locked = navigator.locks
        ? navigator.locks.request(LOCK_NAME, rotate)
        : rotate();
      this.inflight = locked.finally(() => {
        this.inflight = null;
      });
    }
    return this.inflight;
  }

  async rotate(spent) {
    const stored = await readCoherent();
    if (!stored) {
      this.end("signed_out_elsewhere");
      throw new SessionEnded("signed out");
    }
    if (stored.refresh_token !== spent) {
      // Another tab rotated while this one waited for the lock: use its pair.
      this.current = stored;
      this.schedule();
      this.onChange(stored, "rotated");
      return;
    }
    let body;
    try {
      body = await request("POST", "/api/auth/refresh", {
        body: { refresh_token: spent },
      });
    } catch (error) {
      if (error.status === 401 || error.status === 422) {
        this.end(error.code === "refresh_token_reused" ? "revoked" : "expired");
        throw new SessionEnded(error.code);
      }
      throw error; // offline or a server hiccup: keep the login and try again later
    }
    if (!(await readCoherent())) {
      // Logged out (here or in another tab) while the request was out. That logout
      // revoked the whole login; storing the new pair would sign the page back in.
      // Revoke it too, in case the logout request itself never reached the server.
      request("POST", "/api/auth/logout", { body: { refresh_token: body.refresh_token } })
        .catch(() => {});
      throw new SessionEnded("signed out");
    }
    await this.save(fromBody(body)); // before the lock is released
    this.onChange(this.current, "rotated");
  }

  /** Refresh shortly before the access token expires, so nothing waits on it. */
  schedule() {
    clearTimeout(this.timer);
    if (!this.current) return;
    const lifetime = this.current.lifetime || 900_000;
    const due = this.current.expires_at - lifetime * REFRESH_AHEAD - Date.now();
    this.timer = setTimeout(() => {
      this.refresh().catch(() => {
        // Offline: try again in a while; SessionEnded already signed the person out.
        if (this.current) this.timer = setTimeout(() => this.schedule(), 15_000);
      });
    }, Math.max(due, 1_000));
  }

  /** An authenticated REST call; an expired access token is refreshed once. */
  async api(method, path, body) {
    const token = await this.accessToken();
    try {
      return await request(method, path, { body, token });
    } catch (error) {
      if (error.status !== 401 || !this.current) throw error;
      if (error.code !== "token_expired" && error.code !== "token_invalid") {
        this.end("expired");
        throw new SessionEnded(error.code);
      }
      await this.refresh();
      return request(method, path, { body, token: this.current.access_token });
    }
  }
}
