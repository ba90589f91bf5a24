// The conversation: one card per run, holding the person's message, the run's
// steps (collapsed to one line once it ends) and the answer.
//
// Text from people and models reaches the page only through text nodes
// (`append(string)` / `textContent`). The one exception is an answer's HTML from
// the server's renderer (`setAnswerHtml`): Markdown rendered with raw HTML off and
// sanitized (netra.web.markdown); the CSP forbids inline script on top of that.

import { describeEnding } from "./words.js";

const TERMINAL = new Set(["agent_completed", "agent_error", "agent_cancelled"]);
// What the server writes for a tool call a cancelled run left open: stopped, not failed.
const STOPPED_TOOL = "interrupted: cancelled";

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

/** Text with `inline code` as <code> elements, built from text nodes (no HTML parsing). */
export function withInlineCode(text) {
  const parts = String(text).split("`");
  // A part between two backticks is code; a last backtick without its pair stays as typed.
  return parts.map((part, index) => {
    if (index % 2 === 0) return part;
    return index + 1 < parts.length ? el("code", {}, part) : `\`${part}`;
  });
}

function duration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function json(value) {
  const compact = JSON.stringify(value);
  if (compact === undefined) return String(value);
  return compact.length <= 60 ? compact : JSON.stringify(value, null, 2);
}

function copyButton(label, read) {
  const button = el("button", { type: "button", class: "copy quiet" }, label);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(read());
      button.textContent = "Copied";
    } catch {
      button.textContent = "Copy failed";
    }
    setTimeout(() => (button.textContent = label), 1500);
  });
  return button;
}

/** One run on the page: the question, its steps and its answer. */
class RunCard {
  constructor(runId, inputText, hooks) {
    this.runId = runId;
    this.hooks = hooks;
    this.ended = null; // the terminal event's type once the run is over
    this.started = false;
    this.startedAt = null; // agent_started's ts, for the run's duration
    this.steps = 0;
    this.final = false; // the answer text came from agent_completed, not deltas
    this.answerSource = ""; // the answer as written (Markdown), for copying
    this.renderedId = null; // message id whose rendered HTML is showing
    this.tools = new Map(); // tool_call_id -> the tool_executing entry
    this.toolNames = [];
    this.question = el("p", { class: "bubble-text" }, inputText || "");
    this.questionState = el("span", { class: "bubble-state" });
    this.resend = null; // the "Send again" button, while the message is not (known to be) sent
    this.summary = el("span", { class: "steps-summary" }, "Working…");
    this.events = el("ol", { class: "events", "aria-label": "Run steps" });
    this.steps_ = el("details", { class: "steps", open: true }, el("summary", {}, this.summary), this.events);
    this.answerBody = el("div", { class: "answer-body" });
    this.actions = el(
      "div",
      { class: "answer-actions" },
      copyButton("Copy answer", () => this.answerSource),
    );
    this.answer = el(
      "article",
      { class: "bubble agent", hidden: true, "aria-label": "Answer" },
      this.answerBody,
      this.actions,
    );
    this.root = el(
      "div",
      { class: "run", "data-run-id": runId || "" },
      el("article", { class: "bubble user", "aria-label": "You" }, this.question, this.questionState),
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
    this.resend?.remove();
    this.resend = null;
  }

  /** Not (known to be) sent: say why, offer to send it again, drop the empty steps. */
  setRefused(words) {
    this.setPending("refused");
    this.questionState.textContent = words;
    this.resend = el("button", { type: "button", class: "resend" }, "Send again");
    this.resend.addEventListener("click", () => this.hooks.resend(this));
    this.questionState.after(this.resend);
    this.steps_.remove();
  }

  showAnswer(text, final) {
    if (this.final && !final) return;
    this.answer.hidden = false;
    if (final) {
      this.answerSource = text;
      if (!this.final || !this.renderedId) this.answerBody.replaceChildren(el("p", { class: "bubble-text" }, text));
    } else {
      if (!this.answerBody.firstChild) this.answerBody.append(el("p", { class: "bubble-text" }));
      this.answerBody.firstChild.append(text);
      this.answerSource += text;
    }
    this.final = this.final || final;
  }

  /** The answer as the server rendered it (sanitized HTML from netra.web.markdown). */
  setAnswerHtml(messageId, html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    for (const block of template.content.querySelectorAll(".code-block")) {
      const code = block.querySelector("code");
      const language = block.dataset.language;
      block.prepend(
        el("div", { class: "code-head" },
          el("span", { class: "code-language" }, language || "code"),
          copyButton("Copy code", () => code.textContent)),
      );
    }
    this.answer.hidden = false;
    this.answerBody.replaceChildren(el("div", { class: "markdown" }, template.content));
    this.renderedId = messageId;
  }

  add(entry, event) {
    entry.dataset.seq = event.seq;
    entry.dataset.type = event.type;
    entry.classList.add("event", `event-${event.type.replaceAll("_", "-")}`);
    this.events.append(entry);
    this.steps += 1;
    if (!this.ended) this.summary.textContent = `Working… ${this.steps} ${this.steps === 1 ? "step" : "steps"}`;
  }

  /** Render one event of this run; returns a short announcement for screen readers. */
  apply(event) {
    const data = event.data || {};
    switch (event.type) {
      case "agent_started": {
        this.started = true;
        this.startedAt = Date.parse(event.ts);
        this.root.dataset.state = "running";
        this.setQuestion(data.input);
        this.add(
          el("li", {}, el("span", { class: "badge" }, "Started"),
            el("span", { class: "what" }, `${data.agent || "agent"} is on it`)),
          event,
        );
        return "The agent started.";
      }
      case "agent_thinking": {
        this.add(
          el("li", {}, el("span", { class: "badge" }, "Thinking"),
            el("span", { class: "what" }, ...withInlineCode(data.text || ""))),
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
          el("pre", { class: "payload args", "aria-label": "Arguments" }, json(data.args ?? {})),
        );
        entry.status = status;
        this.tools.set(data.tool_call_id, entry);
        if (!this.toolNames.includes(data.tool)) this.toolNames.push(data.tool);
        this.add(entry, event);
        return `Using the ${data.tool} tool.`;
      }
      case "tool_completed": {
        const stopped = data.error === STOPPED_TOOL;
        const failed = "error" in data && !stopped;
        const outcome = stopped ? "stopped" : failed ? "failed" : "done";
        const call = this.tools.get(data.tool_call_id);
        if (call) {
          call.status.dataset.status = outcome;
          call.status.textContent = outcome;
        }
        const took = duration(data.duration_ms);
        const verb = { stopped: " stopped", failed: " failed", done: " finished" }[outcome];
        const entry = el(
          "li", { class: outcome === "done" ? "" : outcome },
          el("span", { class: "badge" }, { stopped: "Stopped", failed: "Tool error", done: "Result" }[outcome]),
          el("span", { class: "what" }, el("code", { class: "tool-name" }, data.tool || "tool"), verb, took ? ` after ${took}` : ""),
          stopped
            ? null
            : el("pre", { class: "payload result", "aria-label": failed ? "Error" : "Result" },
              failed ? String(data.error) : json(data.result)),
        );
        this.add(entry, event);
        return `The ${data.tool} tool${verb}.`;
      }
      case "agent_message_delta": {
        this.showAnswer(data.delta || "", false);
        return null;
      }
      case "agent_completed": {
        // A run whose model called tools that a front end runs (AG-UI client tools)
        // ends waiting for them; the front end's next run carries their results.
        const waiting = data.client_tool_calls || [];
        for (const call of waiting) {
          if (!this.toolNames.includes(call.tool)) this.toolNames.push(call.tool);
          this.add(
            el("li", { class: "client-tool" },
              el("span", { class: "badge" }, "Client tool"),
              el("span", { class: "what" }, el("code", { class: "tool-name" }, call.tool || "tool"),
                " is for the front end to run"),
              el("pre", { class: "payload args", "aria-label": "Arguments" }, json(call.args ?? {}))),
            event,
          );
        }
        if (data.text || !waiting.length) this.showAnswer(data.text || "", true);
        if (!waiting.length) this.add(el("li", {}, el("span", { class: "badge" }, "Answered")), event);
        this.end(event);
        if (waiting.length) {
          this.summary.textContent = `Waiting for the front end to run ${waiting.map((c) => c.tool).join(", ")}`;
          return this.summary.textContent;
        }
        if (this.renderedId !== data.message_id) this.hooks.render(this, data.message_id);
        return `Answer: ${data.text || ""}`;
      }
      case "agent_error":
      case "agent_cancelled": {
        const words = describeEnding(event.type, data);
        const kind = event.type === "agent_error" ? "failed" : "stopped";
        this.add(
          el("li", { class: kind },
            el("span", { class: "badge" }, kind === "failed" ? "Failed" : "Stopped"),
            el("span", { class: "what" }, words)),
          event,
        );
        this.end(event, words);
        return words;
      }
      default: {
        this.add(el("li", {}, el("span", { class: "badge" }, event.type)), event);
        return null;
      }
    }
  }

  /** The run is over: its steps fold into one line ("used calculator · 0.2 s"). */
  end(event, words = null) {
    this.ended = event.type;
    this.root.dataset.state = event.type.replace("agent_", "");
    for (const entry of this.tools.values()) {
      if (entry.status.dataset.status === "running") entry.status.textContent = "ended";
    }
    const used = this.toolNames.length ? `used ${this.toolNames.join(", ")}` : `${this.steps} steps`;
    const took = duration(Date.parse(event.ts) - this.startedAt);
    const head = { agent_completed: used, agent_cancelled: "Stopped", agent_error: "Failed" }[event.type];
    this.summary.textContent = [head, event.type === "agent_completed" ? null : used, took].filter(Boolean).join(" · ");
    this.summary.title = words || "";
    this.steps_.open = false;
  }
}

/**
 * The open thread's conversation. Events are applied strictly in `seq` order:
 * one already shown is ignored, and a gap is reported to the caller so it can
 * ask the server to replay from `lastSeq`.
 *
 * `hooks.render(card, messageId)` fetches an answer's HTML; `hooks.resend(card)`
 * sends a message again that was refused or never confirmed.
 */
export class Timeline {
  constructor(root, announce, hooks) {
    this.root = root;
    this.announce = announce;
    this.hooks = hooks;
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

  /** The newest run, if it has ended: the one whose answer can be regenerated. */
  get lastEndedRun() {
    const cards = [...this.runs.values()];
    const last = cards[cards.length - 1];
    return last && last.ended && this.pending.size === 0 ? last : null;
  }

  get sending() {
    return this.pending.size > 0;
  }

  card(runId, inputText) {
    let card = this.runs.get(runId);
    if (!card) {
      card = new RunCard(runId, inputText, this.hooks);
      this.runs.set(runId, card);
      this.root.append(card.root);
    }
    return card;
  }

  /** The person's message, shown at once; the run id follows in run_accepted. */
  addOutgoing(clientMsgId, text) {
    const card = new RunCard(null, text, this.hooks);
    card.setPending("sending");
    this.pending.set(clientMsgId, card);
    this.root.append(card.root);
    return card;
  }

  /** Take a refused or unconfirmed card off the page (it is being sent again). */
  discard(card) {
    this.unconfirmedCards = this.unconfirmedCards.filter((other) => other !== card);
    card.root.remove();
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
    card.setRefused("Not confirmed: the connection dropped before the server answered.");
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

  /** Messages from GET /messages: the questions and (rendered) answers of each run. */
  showMessages(messages) {
    for (const message of messages) {
      if (!message.run_id) continue;
      const card = this.card(message.run_id, message.role === "user" ? message.text : "");
      if (message.role === "user") card.setQuestion(message.text);
      else if (message.role === "assistant") {
        card.showAnswer(message.text, true);
        if (message.html !== null && message.html !== undefined) card.setAnswerHtml(message.id, message.html);
      }
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
