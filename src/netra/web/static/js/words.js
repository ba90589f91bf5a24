// Plain words for the server's error codes, run endings and connection states.

const ERRORS = {
  network: "Can't reach the server. Check your connection and try again.",
  invalid_credentials: "That email and password don't match an account.",
  email_taken: "An account with this email already exists. Log in instead.",
  too_many_attempts: "Too many failed attempts to log in.",
  refresh_token_reused: "You were signed out because this login was used elsewhere. Please log in again.",
  invalid_refresh_token: "Your session has ended. Please log in again.",
  token_expired: "Your session has expired. Please log in again.",
  token_invalid: "Your session is no longer valid. Please log in again.",
  unauthorized: "Please log in again.",
  not_found: "That chat doesn't exist, or it isn't yours.",
  run_in_progress: "The agent is still working on this chat. Wait for it to finish, or stop it.",
  run_not_active: "That run has already finished.",
  unknown_agent: "There is no agent by that name.",
  shutting_down: "The server is restarting. Try again in a moment.",
  internal_error: "The server ran into a problem. Try again in a moment.",
  subscription_failed: "Live updates for this chat stopped; reconnecting.",
  invalid_frame: "The server did not accept that message.",
  too_large: "That message is too long.",
};

const FIELDS = {
  email: "Enter a valid email address.",
  password: "The password must be between 8 and 1024 characters.",
  display_name: "The display name can have at most 100 characters.",
  text: "Write a message first.",
};

/** A sentence a person can act on, for an error code from the server. */
export function describeError(code, serverMessage = "", { retryAfter = null } = {}) {
  if (code === "too_many_attempts" && retryAfter) {
    const seconds = Number(retryAfter);
    const wait = seconds >= 90 ? `${Math.ceil(seconds / 60)} minutes` : `${seconds} seconds`;
    return `Too many failed attempts to log in. Try again in ${wait}.`;
  }
  if (code === "invalid_request" || code === "invalid_frame") {
    // "email: value is not a valid email address; password: ..." -> one sentence per field
    const fields = String(serverMessage)
      .split(";")
      .map((part) => part.split(":")[0].trim())
      .filter((field) => field in FIELDS);
    if (fields.length) return [...new Set(fields)].map((field) => FIELDS[field]).join(" ");
  }
  if (ERRORS[code]) return ERRORS[code];
  if (/^http_5\d\d$/.test(code)) return ERRORS.internal_error;
  return serverMessage ? `The server said: ${serverMessage}` : "Something went wrong. Try again.";
}

/** Why a run ended, for agent_error and agent_cancelled events. */
export function describeEnding(type, data) {
  if (type === "agent_cancelled") {
    if (data.reason === "cancelled_by_user") return "Stopped. You cancelled this run.";
    if (data.reason === "server_shutdown") return "Stopped because the server restarted.";
    return `Stopped (${data.reason || "no reason given"}).`;
  }
  const reasons = {
    timeout: "The run took too long and was stopped.",
    step_limit: "The agent took too many steps and was stopped.",
    interrupted: "The run was interrupted when the server stopped unexpectedly.",
    internal_error: "The agent ran into a problem on the server.",
  };
  return reasons[data.code] || `The run failed: ${data.message || data.code}`;
}

/** Words for a WebSocket close code the server documents (or why the page gave up). */
export function describeClose(code, why = null) {
  if (why === "no_answer") return "The server did not answer";
  if (!code) return "Can't reach the server";
  const reasons = {
    1001: "The server is restarting",
    1012: "The server is restarting",
    4401: "The session token needs renewing",
    4408: "The server waited too long to hear from this page",
    4429: "Too many messages were sent too fast",
    4503: "This page fell behind the server",
  };
  return reasons[code] || "The connection dropped";
}
