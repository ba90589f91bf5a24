// Drives Netra's POST /api/agui with a real AG-UI client, for tests/e2e/test_agui_clients.py.
//
//   node drive.mjs <official|copilotkit> <scenario.json>
//
// `official` is @ag-ui/client as installed here (1.x); `copilotkit` is the copy that
// @copilotkit/runtime bundles (0.0.59 in runtime 1.75), resolved from the runtime's own
// node_modules, as a CopilotKit runtime would load it.
//
// The scenario: {"url", "token", "threadId", "steps": [...]}; each step is one run of the
// same agent (so the client keeps and sends the conversation, as a front end does):
//   {"text": "..."}                      a user message, then run
//   {"toolResult": "..."}                answer the pending client tool call(s), then run
//   {"tools": [...]}                     (with either) client tools offered to the agent
//   {"abortOn": "TOOL_CALL_START"}       (with either) abortRun() once that event arrives
//   {"waitForGo": true}                  (with either) first read a line from stdin: the
//                                        test says when the server is ready for it
// Writes one JSON line per event ({"step", "event"}) as it arrives, so the test can act
// mid-run, and one per finished step ({"step", "done": true, "result", "error", "messages"}).
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const [which, scenarioPath] = process.argv.slice(2);

function loadClient(kind) {
  if (kind === "official") return createRequire(join(here, "package.json"))("@ag-ui/client");
  if (kind === "copilotkit") {
    // The runtime's own dependency, not ours: require from inside the runtime's folder.
    const runtime = join(here, "node_modules", "@copilotkit", "runtime", "package.json");
    return createRequire(runtime)("@ag-ui/client");
  }
  throw new Error(`unknown client ${kind}`);
}

const { HttpAgent } = loadClient(which);
const scenario = JSON.parse(readFileSync(scenarioPath, "utf8"));
const agent = new HttpAgent({
  url: scenario.url,
  headers: { Authorization: `Bearer ${scenario.token}` },
  threadId: scenario.threadId,
});
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
let counter = 0;
const nextId = (prefix) => `${prefix}-${which}-${++counter}`;

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

for (const [index, step] of scenario.steps.entries()) {
  if (step.waitForGo) await stdin.next();
  if (step.text !== undefined) {
    agent.addMessage({ id: nextId("user"), role: "user", content: step.text });
  }
  if (step.toolResult !== undefined) {
    const answered = new Set(agent.messages.filter((m) => m.role === "tool").map((m) => m.toolCallId));
    const pending = agent.messages
      .filter((m) => m.role === "assistant")
      .flatMap((m) => m.toolCalls || [])
      .filter((call) => !answered.has(call.id));
    for (const call of pending) {
      agent.addMessage({ id: nextId("tool"), role: "tool", toolCallId: call.id, content: step.toolResult });
    }
  }
  let error = null;
  let result;
  const subscriber = {
    onEvent({ event }) {
      print({ step: index, event });
      if (step.abortOn && event.type === step.abortOn) agent.abortRun();
    },
  };
  try {
    const outcome = await agent.runAgent({ tools: step.tools || [] }, subscriber);
    result = outcome?.result;
  } catch (caught) {
    error = String(caught?.stack || caught);
  }
  print({ step: index, done: true, result: result ?? null, error, messages: agent.messages });
  if (step.abortOn) {
    // An aborted client is done with that controller; the next run needs a fresh one.
    agent.abortController = new AbortController();
  }
}
process.exit(0); // stdin may still be open
