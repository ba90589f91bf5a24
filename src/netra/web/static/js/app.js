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
  backdrop: $("backdrop"),
  threadsToggle: $("threads-toggle"),
  newThread: $("new-thread"),
  threadSearch: $("thread-search"),
  threadList: $("thread-list"),
  threadListEmpty: $("thread-list-empty"),
  threadTitle: $("thread-title"),
  threadActions: $("thread-actions"),
  rename: $("rename"),
  renameForm: $("rename-form"),
  renameInput: $("rename-input"),
  renameCancel: $("rename-cancel"),
  deleteButton: $("delete"),
  deleteConfirm: $("delete-confirm"),
  deleteYes: $("delete-yes"),
  deleteNo: $("delete-no"),
  chatConnection: $("chat-connection"),
  chatError: $("chat-error"),
  timeline: $("timeline"),
  jump: $("jump"),
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
  threadLoads: 0, // GET /api/threads sent so far
  threadsAsOf: 0, // the list shown is newer than the answers to loads up to this one
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

const NOT_CONNECTED = "Not connected yet. Your message is still in the box; send it once connected.";

const timeline = new Timeline(ui.timeline, announce, { render: renderAnswer, resend });
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
  threadsChangedHere();
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
  ui.chatConnection.hidden = true;
  ui.authView.hidden = false;
  document.body.dataset.view = "auth";
  setSkipLink("#email", "Skip to the login form");
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
  document.body.dataset.view = "chat";
  setSkipLink("#message", "Skip to the message box");
  ui.accountName.textContent = user.display_name || user.email;
  ui.accountName.title = user.email;
  live.start();
  loadThreads();
  const fromHash = decodeURIComponent(location.hash.slice(1));
  if (fromHash.startsWith("thr_")) openThread(fromHash, { focus: false });
  else newChat({ focus: true });
}

function setSkipLink(target, words) {
  ui.skipLink.setAttribute("href", target);
  ui.skipLink.textContent = words;
}

/** Mark the auth form's fields as invalid (aria-invalid) or not. */
function markInvalid(fields) {
  for (const input of [ui.email, ui.password, ui.displayName]) {
    if (fields.includes(input)) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  }
}

/** Which fields an auth error is about, from its code or the server's field list. */
function invalidFields(error) {
  if (error.code === "invalid_credentials") return [ui.email, ui.password];
  if (error.code === "email_taken") return [ui.email];
  if (error.code !== "invalid_request") return [];
  const named = String(error.serverMessage || "");
  return [
    named.includes("email") && ui.email,
    named.includes("password") && ui.password,
    named.includes("display_name") && ui.displayName,
  ].filter(Boolean);
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
  markInvalid([]);
}

async function submitAuth(event) {
  event.preventDefault();
  const email = ui.email.value.trim();
  const password = ui.password.value;
  if (!email || !password) {
    showError(ui.authError, "Enter your email and password.");
    markInvalid([!email && ui.email, !password && ui.password].filter(Boolean));
    (email ? ui.password : ui.email).focus();
    return;
  }
  ui.authSubmit.disabled = true;
  showError(ui.authError, "");
  markInvalid([]);
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
    markInvalid(invalidFields(error));
  } finally {
    ui.authSubmit.disabled = false;
  }
}

// -- threads ------------------------------------------------------------------
async function loadThreads() {
  const load = ++state.threadLoads;
  let threads;
  try {
    threads = await session.api("GET", "/api/threads");
  } catch (error) {
    if (!(error instanceof SessionEnded)) showError(ui.chatError, error);
    return;
  }
  // Answers can come back out of order, and one read before a change made here (a
  // delete, a rename) was committed would bring the old list back: keep the newer.
  if (load <= state.threadsAsOf) return;
  state.threadsAsOf = load;
  state.threads = threads;
  renderThreads();
}

/** The list was changed here: answers to loads already sent may predate the change. */
function threadsChangedHere() {
  state.threadsAsOf = state.threadLoads;
}

function renderThreads() {
  const query = ui.threadSearch.value.trim().toLocaleLowerCase();
  const shown = state.threads.filter((thread) => thread.title.toLocaleLowerCase().includes(query));
  ui.threadList.replaceChildren(
    ...shown.map((thread) => {
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
        thread.active_run_id
          ? el("span", { class: "thread-running" }, el("span", { class: "visually-hidden" }, "(running)"))
          : null,
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
  ui.threadListEmpty.hidden = shown.length > 0;
  ui.threadListEmpty.textContent = state.threads.length ? "No chats match." : "No chats yet.";
}

function setTitle(text) {
  ui.threadTitle.textContent = text;
  ui.threadTitle.title = text;
  document.title = text === "New chat" ? "Netra" : `${text} · Netra`;
}

// -- rename and delete the open chat ---------------------------------------------
function closeChatForms() {
  ui.renameForm.hidden = true;
  ui.deleteConfirm.hidden = true;
  ui.threadTitle.hidden = false;
}

function startRename() {
  closeChatForms();
  ui.renameInput.value = ui.threadTitle.textContent;
  ui.renameInput.removeAttribute("aria-invalid");
  ui.threadTitle.hidden = true;
  ui.renameForm.hidden = false;
  ui.renameInput.focus();
  ui.renameInput.select();
}

async function saveRename(event) {
  event.preventDefault();
  const threadId = state.threadId;
  const title = ui.renameInput.value.trim();
  if (!title) {
    ui.renameInput.setAttribute("aria-invalid", "true");
    ui.renameInput.focus();
    return;
  }
  try {
    const thread = await session.api("PATCH", `/api/threads/${encodeURIComponent(threadId)}`, { title });
    state.threads = state.threads.map((t) => (t.id === thread.id ? thread : t));
    threadsChangedHere();
    loadThreads(); // what the answers set aside may have had (another chat's run ending)
    if (state.threadId === threadId) setTitle(thread.title);
    renderThreads();
    closeChatForms();
    ui.threadTitle.focus();
  } catch (error) {
    ui.renameInput.setAttribute("aria-invalid", "true");
    if (!(error instanceof SessionEnded)) showError(ui.chatError, error);
  }
}

function askDelete() {
  closeChatForms();
  ui.deleteConfirm.hidden = false;
  ui.deleteNo.focus();
}

async function deleteChat() {
  const threadId = state.threadId;
  ui.deleteYes.disabled = true;
  try {
    await session.api("DELETE", `/api/threads/${encodeURIComponent(threadId)}`);
    state.threads = state.threads.filter((t) => t.id !== threadId);
    threadsChangedHere();
    loadThreads(); // what the answers set aside may have had (another chat's run ending)
    if (state.threadId === threadId) newChat({ focus: true });
    announce("Chat deleted.");
  } catch (error) {
    if (!(error instanceof SessionEnded)) showError(ui.chatError, error);
  } finally {
    ui.deleteYes.disabled = false;
    closeChatForms();
  }
}

function newChat({ focus }) {
  state.threadId = null;
  state.loading = null;
  closeChatForms();
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
  closeChatForms();
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
  follow(true);
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
  // A run starting or ending changes the list's "running" marks (and its order).
  const listChanged = event.type === "agent_started" || Timeline.isTerminal(event);
  if (event.thread_id !== state.threadId || state.loading) {
    if (listChanged) loadThreads();
    return; // another thread's run: its history is read when it is opened
  }
  const outcome = timeline.apply(event);
  if (outcome === "gap") {
    subscribe(); // the server replays from the last seq shown; this event comes again
    return;
  }
  if (outcome === "shown") {
    if (Timeline.isTerminal(event)) state.stopping = null;
    if (listChanged) loadThreads();
  }
}

/** Replace a finished answer's plain text with the server's rendering of it. */
async function renderAnswer(card, messageId) {
  const threadId = state.threadId;
  if (!threadId || !messageId) return;
  const path = `/api/threads/${encodeURIComponent(threadId)}/messages/${encodeURIComponent(messageId)}`;
  try {
    const message = await session.api("GET", path);
    if (state.threadId === threadId && message.html !== null) card.setAnswerHtml(messageId, message.html);
  } catch {
    // The plain text stays; the rendering comes with the history on the next visit.
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
  ui.threadActions.hidden = !state.threadId || Boolean(state.loading);
  updateRegenerate(busy);
}

/** Only the newest answer can be regenerated, and only while nothing else runs. */
function updateRegenerate(busy) {
  const last = timeline.lastEndedRun;
  for (const button of ui.timeline.querySelectorAll(".regenerate")) {
    if (!last || button.closest(".run") !== last.root) button.remove();
  }
  if (!last || !live.ready || busy) {
    if (last) last.root.querySelector(".regenerate")?.remove();
    return;
  }
  if (last.root.querySelector(".regenerate")) return;
  const button = el("button", { type: "button", class: "regenerate quiet" }, "Regenerate");
  button.addEventListener("click", () => sendText(last.question.textContent));
  (last.answer.hidden ? last.root : last.actions).append(button);
}

function send(event) {
  event.preventDefault();
  const text = ui.message.value.trim();
  ui.message.focus(); // Send may be about to disappear under the pointer
  if (!text) return;
  if (!live.ready) {
    showError(ui.chatError, NOT_CONNECTED);
    return;
  }
  if (ui.send.disabled) return;
  if (sendText(text)) {
    ui.message.value = "";
    fitMessageBox();
  }
}

/** Send a message in the open chat (or a new one); false if it could not go out. */
function sendText(text) {
  if (!live.ready || timeline.activeRun || timeline.sending) return false;
  showError(ui.chatError, "");
  const clientMsgId = newClientMsgId();
  const frame = { type: "user_message", text, client_msg_id: clientMsgId };
  if (state.threadId) frame.thread_id = state.threadId;
  timeline.addOutgoing(clientMsgId, text);
  live.send(frame);
  updateControls();
  follow(true);
  return true;
}

/** "Send again" on a message that was refused or never confirmed. */
function resend(card) {
  const text = card.question.textContent;
  if (!live.ready) {
    showError(ui.chatError, NOT_CONNECTED);
    return;
  }
  if (timeline.activeRun || timeline.sending) {
    showError(ui.chatError, describeError("run_in_progress"));
    return;
  }
  timeline.discard(card);
  sendText(text);
  ui.message.focus();
}

async function stop() {
  const run = timeline.activeRun;
  if (!run || !run.runId) return;
  state.stopping = run.runId;
  updateControls();
  ui.message.focus(); // Stop turns into "Stopping…" and then goes away
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

// -- following the run ----------------------------------------------------------
// The view follows new content while the reader is at the bottom, and stops when they
// scroll up. Scrolls the page makes itself are instant (no smooth scroll to catch
// half-way), and a scroll event only counts as the reader's when it went above the
// place the page last put the view: content that grew in the meantime does not.
const AT_END = 24; // px from the bottom that still count as "at the bottom"
let following = true;
let pinnedTop = 0; // where the page last scrolled the timeline to

function distanceToEnd() {
  const t = ui.timeline;
  return t.scrollHeight - t.scrollTop - t.clientHeight;
}

function follow(force = false) {
  if (force) following = true;
  if (following) {
    ui.timeline.scrollTop = ui.timeline.scrollHeight;
    pinnedTop = ui.timeline.scrollTop;
  }
  ui.jump.hidden = following || distanceToEnd() <= AT_END;
}

ui.timeline.addEventListener("scroll", () => {
  if (ui.timeline.scrollTop < pinnedTop - 1) following = false; // the reader went up
  if (distanceToEnd() <= AT_END) following = true; // ... or came back down
  if (!following) pinnedTop = ui.timeline.scrollTop;
  ui.jump.hidden = following;
}, { passive: true });
new MutationObserver(() => follow()).observe(ui.timeline, {
  childList: true, subtree: true, characterData: true, attributes: true, attributeFilter: ["open", "hidden"],
});
new ResizeObserver(() => follow()).observe(ui.timeline);

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
  showConversationConnection(connection, detail);
  updateControls();
}

/** The same truth where the person is looking: above the conversation. Not a live
 * region: the top bar's status already announces each change once. */
function showConversationConnection(connection, detail) {
  if (connection === "online") {
    ui.chatConnection.hidden = true;
    if (ui.chatError.textContent === NOT_CONNECTED) showError(ui.chatError, "");
    return;
  }
  if (connection === "stopped" || (connection === "connecting" && !detail.again)) {
    ui.chatConnection.hidden = true; // nothing to warn about before the first connect
    return;
  }
  const why = detail.reason ? `${detail.reason}. ` : "";
  const words = {
    connecting: "Reconnecting… Sending waits until the connection is back.",
    waiting: `Not connected. ${why}Trying again in ${detail.seconds} s. Sending waits until then.`,
    paused: "Not connected (paused). Sending waits until the connection is back.",
  }[connection];
  ui.chatConnection.textContent = words;
  ui.chatConnection.dataset.state = detail.offline ? "offline" : connection;
  ui.chatConnection.hidden = false;
}

function toggleSidebar(open) {
  const show = open ?? ui.threadsToggle.getAttribute("aria-expanded") !== "true";
  ui.threadsToggle.setAttribute("aria-expanded", String(show));
  ui.sidebar.classList.toggle("open", show);
  ui.backdrop.hidden = !show;
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
ui.backdrop.addEventListener("click", () => toggleSidebar(false));
ui.threadSearch.addEventListener("input", renderThreads);
ui.rename.addEventListener("click", startRename);
ui.renameForm.addEventListener("submit", saveRename);
ui.renameCancel.addEventListener("click", () => {
  closeChatForms();
  ui.rename.focus();
});
ui.renameInput.addEventListener("keydown", (event) => {
  if (event.key === "Escape") {
    event.stopPropagation();
    closeChatForms();
    ui.rename.focus();
  }
});
ui.deleteButton.addEventListener("click", askDelete);
ui.deleteYes.addEventListener("click", deleteChat);
ui.deleteNo.addEventListener("click", () => {
  closeChatForms();
  ui.deleteButton.focus();
});
ui.jump.addEventListener("click", () => {
  follow(true);
  ui.message.focus();
});
for (const input of [ui.email, ui.password, ui.displayName]) {
  input.addEventListener("input", () => input.removeAttribute("aria-invalid"));
}
ui.skipLink.addEventListener("click", (event) => {
  // Following its fragment would fire popstate, which reads "no chat id" as "start a
  // new chat" and would close the open one. Signed out, it goes to the login form.
  event.preventDefault();
  (ui.chatView.hidden ? ui.email : ui.message).focus();
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
