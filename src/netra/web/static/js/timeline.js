// The conversation: one card per run, holding the person's message, a timeline
// of the run's events and the answer.
//
// Text from people and models only ever reaches the page through text nodes
// (`append(string)` / `textContent`); nothing here parses HTML.

import { describeEnding } from "./words.js";

const TERMINAL = new Set(["agent_completed", "agent_error", "agent_cancelled"]);

/** createElement with attributes from code and children as nodes or plain text. */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== undefined && child !== null && child !== false) node.append(child);
  }
  return node;
}

function clock(ts) {
  const when = new Date(ts);
  if (Number.isNaN(when.getTime())) return null;
  return el("time", { datetime: ts, class: "when" }, when.toLocaleTimeString());
}

function duration(ms) {
  if (typeof ms !== "number") return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function json(value) {
  const compact = JSON.stringify(value);
  if (compact === undefined) return String(value);
  return compact.length <= 60 ? compact : JSON.stringify(value, null, 2);
}

/** One run on the page: the question, its events and its answer. */
class RunCard {
  constructor(runId, inputText) {
    this.runId = runId;
    this.ended = null; // the terminal event's type once the run is over
    this.started = false;
    this.steps = 0;
    this.final = false; // the answer text came from agent_completed, not deltas
    this.tools = new Map(); // tool_call_id -> the tool_executing entry
    this.question = el("p", { class: "bubble-text" }, inputText || "");
    this.questionState = el("span", { class: "bubble-state" });
    this.stepCount = el("span", { class: "step-count" }, "working…");
    this.events = el("ol", { class: "events", "aria-label": "Run events" });
    this.steps_ = el(
      "details",
      { class: "steps", open: true },
      el("summary", {}, "Steps ", this.stepCount),
      this.events,
    );
    this.answerText = el("p", { class: "bubble-text" });
    this.answer = el(
      "div",
      { class: "bubble agent", hidden: true, "aria-label": "Answer" },
      this.answerText,
    );
    this.root = el(
      "article",
      { class: "run", "data-run-id": runId || "" },
      el("div", { class: "bubble user", "aria-label": "You" }, this.question, this.questionState),
      this.steps_,
      this.answer,
    );
    this.root.dataset.state = "pending";
  }

  setRun(runId) {
    this.runId = runId;
    this.root.dataset.runId = runId;
  }

  setQuestion(text) {
    if (text) this.question.textContent = text;
  }

  setPending(state) {
    this.root.dataset.state = state;
    this.questionState.textContent = state === "sending" ? "Sending…" : "";
  }

  /** Not (known to be) sent: say why, and drop the empty steps. */
  setRefused(words) {
    this.setPending("refused");
    this.questionState.textContent = words;
    this.steps_.remove();
  }

  showAnswer(text, final) {
    if (this.final && !final) return;
    this.final = this.final || final;
    this.answer.hidden = false;
    if (final) this.answerText.textContent = text;
    else this.answerText.append(text);
  }

  add(entry, event) {
    entry.dataset.seq = event.seq;
    entry.dataset.type = event.type;
    entry.classList.add("event", `event-${event.type.replaceAll("_", "-")}`);
    this.events.append(entry);
    this.steps += 1;
    this.stepCount.textContent = this.ended ? `(${this.steps})` : `(${this.steps}) working…`;
  }

  /** Render one event of this run; returns a short announcement for screen readers. */
  apply(event) {
    const data = event.data || {};
    const time = clock(event.ts);
    switch (event.type) {
      case "agent_started": {
        this.started = true;
        this.root.dataset.state = "running";
        this.setQuestion(data.input);
        this.add(
          el("li", {}, el("span", { class: "badge" }, "Started"),
            el("span", { class: "what" }, `${data.agent || "agent"} is on it`), time),
          event,
        );
        return "The agent started.";
      }
      case "agent_thinking": {
        this.add(
          el("li", {}, el("span", { class: "badge" }, "Thinking"),
            el("span", { class: "what" }, data.text || ""), time),
          event,
        );
        return `Thinking: ${data.text || ""}`;
      }
      case "tool_executing": {
        const status = el("span", { class: "tool-status", "data-status": "running" }, "running…");
        const entry = el(
          "li", {},
          el("span", { class: "badge" }, "Tool"),
          el("span", { class: "what" }, el("code", { class: "tool-name" }, data.tool || "tool"), " ", status),
          time,
          el("pre", { class: "payload args", "aria-label": "Arguments" }, json(data.args ?? {})),
        );
        entry.status = status;
        this.tools.set(data.tool_call_id, entry);
        this.add(entry, event);
        return `Using the ${data.tool} tool.`;
      }
      case "tool_completed": {
        const failed = "error" in data;
        const call = this.tools.get(data.tool_call_id);
        if (call) {
          call.status.dataset.status = failed ? "failed" : "done";
          call.status.textContent = failed ? "failed" : "done";
        }
        const took = duration(data.duration_ms);
        const entry = el(
          "li", { class: failed ? "failed" : "" },
          el("span", { class: "badge" }, failed ? "Tool error" : "Result"),
          el("span", { class: "what" }, el("code", { class: "tool-name" }, data.tool || "tool"),
            failed ? " failed" : " finished", took ? ` in ${took}` : ""),
          time,
          el("pre", { class: "payload result", "aria-label": failed ? "Error" : "Result" },
            failed ? String(data.error) : json(data.result)),
        );
        this.add(entry, event);
        return failed ? `The ${data.tool} tool failed.` : `The ${data.tool} tool finished.`;
      }
      case "agent_message_delta": {
        this.showAnswer(data.delta || "", false);
        return null;
      }
      case "agent_completed": {
        this.end(event.type);
        this.showAnswer(data.text || "", true);
        const usage = data.usage || {};
        const tokens = (usage.prompt_tokens || 0) + (usage.completion_tokens || 0);
        this.add(
          el("li", {}, el("span", { class: "badge" }, "Answered"),
            el("span", { class: "what" }, tokens ? `${tokens} tokens` : "done"), time),
          event,
        );
        return `Answer: ${data.text || ""}`;
      }
      case "agent_error":
      case "agent_cancelled": {
        this.end(event.type);
        const words = describeEnding(event.type, data);
        this.add(
          el("li", { class: "failed" },
            el("span", { class: "badge" }, event.type === "agent_error" ? "Failed" : "Stopped"),
            el("span", { class: "what" }, words), time),
          event,
        );
        return words;
      }
      default: {
        this.add(el("li", {}, el("span", { class: "badge" }, event.type), time), event);
        return null;
      }
    }
  }

  end(type) {
    this.ended = type;
    this.root.dataset.state = type.replace("agent_", "");
    this.stepCount.textContent = `(${this.steps + 1})`;
    // Tool calls the run never closed (it cannot happen by contract, but be honest).
    for (const entry of this.tools.values()) {
      if (entry.status.dataset.status === "running") entry.status.textContent = "ended";
    }
  }
}

/**
 * The open thread's conversation. Events are applied strictly in `seq` order:
 * one already shown is ignored, and a gap is reported to the caller so it can
 * ask the server to replay from `lastSeq`.
 */
export class Timeline {
  constructor(root, announce) {
    this.root = root;
    this.announce = announce;
    this.clear();
  }

  clear() {
    this.root.replaceChildren();
    this.runs = new Map(); // run_id -> RunCard
    this.pending = new Map(); // client_msg_id -> RunCard not yet accepted
    this.unconfirmedCards = []; // sent just before a drop: the server may have them
    this.lastSeq = 0;
  }

  get isEmpty() {
    return this.runs.size === 0 && this.pending.size === 0;
  }

  /** The run still going in this thread, if any. */
  get activeRun() {
    for (const card of this.runs.values()) if (!card.ended) return card;
    return null;
  }

  get sending() {
    return this.pending.size > 0;
  }

  card(runId, inputText) {
    let card = this.runs.get(runId);
    if (!card) {
      card = new RunCard(runId, inputText);
      this.runs.set(runId, card);
      this.root.append(card.root);
    }
    return card;
  }

  /** The person's message, shown at once; the run id follows in run_accepted. */
  addOutgoing(clientMsgId, text) {
    const card = new RunCard(null, text);
    card.setPending("sending");
    this.pending.set(clientMsgId, card);
    this.root.append(card.root);
    return card;
  }

  accepted(clientMsgId, runId) {
    const card = this.pending.get(clientMsgId);
    if (!card) return;
    this.pending.delete(clientMsgId);
    const existing = this.runs.get(runId);
    if (existing) {
      card.root.remove(); // events got here first (another tab); keep that card
      return;
    }
    card.setRun(runId);
    card.setPending(card.started ? "running" : "waiting");
    this.runs.set(runId, card);
  }

  /** The server refused a message: keep it on the page, marked as not sent. */
  refused(clientMsgId, words) {
    const card = this.pending.get(clientMsgId);
    if (!card) return;
    this.pending.delete(clientMsgId);
    card.setRefused(`Not sent. ${words}`);
  }

  /**
   * The connection dropped before run_accepted: the server may or may not have the
   * message. Say so; if its run turns up after all, that card becomes the run's
   * (see adopt) rather than the question showing twice.
   */
  unconfirmed(clientMsgId) {
    const card = this.pending.get(clientMsgId);
    if (!card) return;
    this.pending.delete(clientMsgId);
    card.setRefused(
      "Not confirmed: the connection dropped before the server answered. " +
        "If no reply appears, send it again.",
    );
    this.unconfirmedCards.push(card);
  }

  /** A run this page did not know started: is it an unconfirmed message's? */
  adopt(event) {
    const input = event.data && event.data.input;
    const index = this.unconfirmedCards.findIndex((card) => card.question.textContent === input);
    if (index < 0) return;
    const [card] = this.unconfirmedCards.splice(index, 1);
    card.setPending("waiting");
    card.answer.before(card.steps_);
    card.setRun(event.run_id);
    this.runs.set(event.run_id, card);
  }

  /** Messages from GET /messages: the questions (and answers) of each run, in order. */
  showMessages(messages) {
    for (const message of messages) {
      if (!message.run_id) continue;
      const card = this.card(message.run_id, message.role === "user" ? message.text : "");
      if (message.role === "user") card.setQuestion(message.text);
      else if (message.role === "assistant") card.showAnswer(message.text, true);
    }
  }

  /**
   * Apply one event. Returns "shown", "duplicate" (seq already shown) or "gap"
   * (an earlier event is missing: replay from lastSeq, then this one comes again).
   */
  apply(event, { live = true } = {}) {
    if (typeof event.seq !== "number" || event.seq <= this.lastSeq) return "duplicate";
    if (event.seq > this.lastSeq + 1) return "gap";
    this.lastSeq = event.seq;
    if (event.type === "agent_started" && !this.runs.has(event.run_id)) this.adopt(event);
    const card = this.card(event.run_id, event.type === "agent_started" ? event.data.input : "");
    const words = card.apply(event);
    if (live && words) this.announce(words);
    return "shown";
  }

  static isTerminal(event) {
    return TERMINAL.has(event.type);
  }
}
