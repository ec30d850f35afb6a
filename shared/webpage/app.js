// The player's page: vanilla JS, no build step, no CDN.
//
// Talks to the JSON API both apps serve (see shared/api/http.py for the routes). Every piece of
// text that comes from a player or the server is put in the page with textContent, never as
// HTML, so names such as <b>道</b>' OR 1=1 -- 🐉 render as typed.
"use strict";

(() => {
  // ---------------------------------------------------------------- constants and labels

  const CURRENT_KEY = "xianxia.current";          // id of the cultivator shown on load
  const ROSTER_KEY = "xianxia.roster";            // {player_id: name} of cultivators made here
  const NPC_NAMES_KEY = "xianxia.npcNames";       // {npc_id: name} learned from conversations
  const tokenKey = (id) => `xianxia.token.${id}`; // one secret token per player id
  const LOG_PAGE = 10;
  const TASK_POLLS = 30;                          // Celery mode: bounded polling of the prose

  const ACTION_LABELS = {
    create: "入道",
    cultivate: "修炼",
    breakthrough: "突破",
    explore: "探索",
    travel: "赶路",
    fight: "战斗",
    use_item: "使用物品",
    rest: "休息",
    talk: "交谈",
  };

  const FIELD_LABELS = {
    qi: "修为",
    hp: "气血",
    max_hp: "气血上限",
    attack: "攻击",
    defense: "防御",
    spirit_stones: "灵石",
    realm: "境界",
    stage: "小境界",
    location: "所在",
    day: "时日",
    turn: "行动",
    kills: "斩妖",
    techniques: "功法",
    equipped: "法宝",
    met_npcs: "结识",
    breakthrough_buff: "突破加成",
    failed_breakthroughs: "突破失败",
  };

  // Fields whose change is bookkeeping rather than news for the player.
  const QUIET_FIELDS = new Set(["turn"]);

  // ---------------------------------------------------------------- page state

  const state = {
    playerId: null,
    token: null,
    player: null,
    version: null,
    busy: false,
    nextBefore: null,
    world: {realms: [], roots: {}, locations: {}, items: {}, techniques: {}, monsters: {}, npcs: {}},
  };

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- small helpers

  /** An HTTP error carrying the API's error envelope. */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  /** A transport failure (connection lost, stream cut) that may be retried once. */
  class NetworkError extends Error {}

  /** Create an element with a class and text (text is never parsed as HTML). */
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** A fresh idempotency key; randomUUID needs a secure context, so fall back to getRandomValues. */
  function newIdempotencyKey() {
    if (globalThis.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function readJson(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw ? JSON.parse(raw) : fallback;
    } catch {
      return fallback;
    }
  }

  function byId(list) {
    const out = {};
    for (const entry of list || []) out[entry.id] = entry;
    return out;
  }

  function signed(n) {
    return n > 0 ? `+${n}` : String(n);
  }

  // ---------------------------------------------------------------- HTTP

  /** Turn a non-2xx response into an ApiError, reading the {"error": {...}} envelope. */
  async function errorFrom(res) {
    let code = `http_${res.status}`;
    let message = res.statusText || "请求失败";
    try {
      const body = await res.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch {
      // Not JSON (e.g. a proxy's HTML page): keep the status line.
    }
    return new ApiError(res.status, code, message);
  }

  function authHeaders() {
    return state.token ? {Authorization: `Bearer ${state.token}`} : {};
  }

  /** JSON request; resolves to the parsed body or throws ApiError / NetworkError. */
  async function api(path, options = {}) {
    const headers = {Accept: "application/json", ...authHeaders(), ...(options.headers || {})};
    const init = {method: options.method || "GET", headers};
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (exc) {
      throw new NetworkError(String(exc && exc.message ? exc.message : exc));
    }
    if (!res.ok) throw await errorFrom(res);
    return res.json();
  }

  // ---------------------------------------------------------------- errors and notices

  function showError(err) {
    const box = $("error");
    if (err instanceof ApiError) {
      $("error-code").textContent = `${err.status} ${err.code}`;
      $("error-message").textContent = err.message;
    } else if (err instanceof NetworkError) {
      $("error-code").textContent = "network";
      $("error-message").textContent = `网络中断：${err.message}`;
    } else {
      $("error-code").textContent = "error";
      $("error-message").textContent = String(err && err.message ? err.message : err);
    }
    box.hidden = false;
  }

  function clearError() {
    $("error").hidden = true;
    $("error-code").textContent = "";
    $("error-message").textContent = "";
  }

  async function loadHealth() {
    const info = $("server-info");
    try {
      const health = await api("/healthz");
      const mode = health.llm_mode === "online" ? "DeepSeek 在线叙事" : "离线叙事";
      info.textContent = `${health.app} · v${health.version} · ${mode}`;
      info.dataset.llmMode = health.llm_mode;
      $("offline-notice").hidden = health.llm_mode !== "offline";
    } catch (err) {
      info.textContent = "服务器无响应";
      showError(err);
    }
  }

  // ---------------------------------------------------------------- world catalogues

  async function loadWorld() {
    const wanted = Object.keys(state.world);
    let kinds = wanted;
    try {
      const index = await api("/api/world");
      kinds = wanted.filter((k) => (index.kinds || []).includes(k));
    } catch {
      // Try each catalogue anyway; those that fail just leave ids on screen.
    }
    const results = await Promise.allSettled(kinds.map((k) => api(`/api/world/${k}`)));
    results.forEach((r, i) => {
      if (r.status !== "fulfilled") return; // the page still works, with ids instead of names
      const entries = r.value.entries || [];
      state.world[kinds[i]] = kinds[i] === "realms" ? entries : byId(entries);
    });
  }

  function realmOf(realmId) {
    return state.world.realms.find((r) => r.id === realmId) || null;
  }

  function realmTitle(realmId, stage) {
    const realm = realmOf(realmId);
    if (!realm) return `${realmId} 第${stage + 1}层`;
    const st = realm.stages && realm.stages[stage];
    return realm.name + (st ? st.name : `第${stage + 1}层`);
  }

  function nameOf(kind, id) {
    const entry = state.world[kind] && state.world[kind][id];
    if (entry && entry.name) return entry.name;
    if (kind === "npcs") return readJson(NPC_NAMES_KEY, {})[id] || id;
    return id;
  }

  /** NPCs are not a world catalogue: remember their names from the talks that named them. */
  function learnNpcNames(outcome) {
    const facts = outcome && outcome.narration && outcome.narration.facts;
    if (!facts || typeof facts.npc !== "string") return;
    const npcIds = (outcome.events || []).map((e) => e && e.npc).filter((x) => typeof x === "string");
    if (npcIds.length !== 1) return;
    const names = readJson(NPC_NAMES_KEY, {});
    if (names[npcIds[0]] === facts.npc) return;
    names[npcIds[0]] = facts.npc;
    localStorage.setItem(NPC_NAMES_KEY, JSON.stringify(names));
  }

  // ---------------------------------------------------------------- rendering the player

  function setBar(bar, value, max) {
    const pct = max > 0 ? Math.max(0, Math.min(100, (value / max) * 100)) : 0;
    bar.style.width = `${pct.toFixed(1)}%`;
    bar.dataset.value = String(value);
  }

  function fillSelect(select, options, keepFirst) {
    const previous = select.value;
    const first = keepFirst ? select.options[0] : null;
    select.replaceChildren();
    if (first) select.append(first);
    for (const [value, label] of options) {
      const opt = el("option", null, label);
      opt.value = value;
      select.append(opt);
    }
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
  }

  function renderPlayer(player) {
    state.player = player;
    $("player-name").textContent = player.name;
    $("realm").textContent = realmTitle(player.realm, player.stage || 0);
    const root = state.world.roots[player.root];
    $("root").textContent = root ? `${root.name}` : player.root;
    $("root").title = root ? `${(root.elements || []).join("")} · ${root.description}` : "";

    const realm = realmOf(player.realm);
    const stage = realm && realm.stages ? realm.stages[player.stage || 0] : null;
    const required = stage ? stage.qi_required : 0;
    if (required > 0) {
      $("qi").textContent = `${player.qi} / ${required}`;
      setBar($("qi-bar"), player.qi, required);
      $("qi-hint").textContent = player.qi >= required
        ? "修为圆满，可尝试突破"
        : `距突破还差 ${required - player.qi} 修为`;
    } else {
      $("qi").textContent = String(player.qi);
      setBar($("qi-bar"), 0, 0);
      $("qi-hint").textContent = "";
    }

    $("hp").textContent = `${player.hp} / ${player.max_hp}`;
    setBar($("hp-bar"), player.hp, player.max_hp);
    document.body.classList.toggle("fallen", player.hp <= 0);
    if (player.hp <= 0) $("qi-hint").textContent = "重伤昏迷，只能休息疗伤";

    $("attack").textContent = String(player.attack);
    $("defense").textContent = String(player.defense);
    $("spirit-stones").textContent = String(player.spirit_stones ?? 0);
    $("day").textContent = `第 ${player.day ?? 0} 日`;
    $("turn").textContent = String(player.turn ?? 0);
    $("kills").textContent = String(player.kills ?? 0);

    renderLocation(player);
    renderTechniques(player);
    renderInventory(player);
  }

  function renderLocation(player) {
    const loc = state.world.locations[player.location];
    const danger = loc ? ` · 凶险 ${"★".repeat(Math.min(loc.danger, 10)) || "无"}` : "";
    $("location").textContent = (loc ? loc.name : player.location) + danger;
    $("location-desc").textContent = loc ? loc.description : "";

    const routes = loc && loc.routes ? loc.routes : [];
    fillSelect($("travel-target"),
      routes.map((r) => [r.to, `${r.name || nameOf("locations", r.to)}（${r.cost} 日）`]), false);
    setAvailable("travel", routes.length > 0, "此地无路可走");

    // Without catalogue data (loc unknown) keep the actions open and let the server decide.
    const monsters = loc && loc.monsters ? loc.monsters : [];
    fillSelect($("fight-target"), monsters.map((m) => [m, nameOf("monsters", m)]), true);
    setAvailable("fight", !loc || monsters.length > 0, "此地没有妖兽");

    const npcs = loc && loc.npcs ? loc.npcs : [];
    fillSelect($("talk-target"), npcs.map((n) => [n, nameOf("npcs", n)]), false);
    setAvailable("talk", !loc || npcs.length > 0, "此地无人可谈");
  }

  /** Mark an action as impossible here (its button stays disabled even when not busy). */
  function setAvailable(type, available, why) {
    const button = document.querySelector(`#actions button[data-action="${type}"]`);
    button.dataset.unavailable = available ? "false" : "true";
    button.title = available ? "" : why;
    button.disabled = state.busy || !available;
    const row = button.closest(".action-row");
    for (const control of row.querySelectorAll("select, input")) control.disabled = !available;
  }

  function renderTechniques(player) {
    const list = $("techniques");
    list.replaceChildren();
    for (const id of player.techniques || []) {
      const tech = state.world.techniques[id];
      const tag = el("li", "tag", tech ? tech.name : id);
      if (tech) tag.title = `${tech.grade} · ${tech.description}`;
      list.append(tag);
    }
    if (!list.children.length) list.append(el("li", "muted", "尚无功法"));
  }

  function renderInventory(player) {
    const list = $("inventory");
    list.replaceChildren();
    const pills = [];
    const entries = Object.entries(player.inventory || {}).filter(([, n]) => n > 0);
    for (const [id, count] of entries) {
      const item = state.world.items[id];
      const row = el("li", "item");
      row.dataset.testid = `item-${id}`;
      const label = el("span", "item-name", item ? item.name : id);
      if (item) label.title = `${item.grade} · ${item.description}`;
      row.append(label, el("span", "item-count", `×${count}`));
      if (player.equipped === id) row.append(el("span", "badge", "已装备"));
      const use = el("button", "small-button", "使用");
      use.type = "button";
      use.dataset.testid = `use-item-${id}`;
      use.addEventListener("click", () => sendAction({type: "use_item", item: id}));
      row.append(use);
      list.append(row);
      if (item && item.effects && item.effects.breakthrough_bonus > 0) {
        pills.push([id, `${item.name}（余 ${count}）`]);
      }
    }
    if (!entries.length) list.append(el("li", "muted", "空空如也"));
    fillSelect($("breakthrough-item"), pills, true);
    setBusy(state.busy); // new buttons follow the busy state
  }

  // ---------------------------------------------------------------- outcome and narration

  function describeValue(field, value) {
    if (field === "realm") {
      const realm = realmOf(value);
      return realm ? realm.name : String(value);
    }
    if (field === "location") return nameOf("locations", value);
    if (field === "equipped") return value ? nameOf("items", value) : "无";
    if (field === "breakthrough_buff") return `${Math.round(Number(value) * 100)}%`;
    return String(value);
  }

  function changeLine(change) {
    const {field, before, after} = change;
    if (field.startsWith("inventory.")) {
      const id = field.slice("inventory.".length);
      return `${nameOf("items", id)} ${signed(after - before)}（${before} → ${after}）`;
    }
    const label = FIELD_LABELS[field] || field;
    if (Array.isArray(before) || Array.isArray(after)) {
      const added = (after || []).filter((x) => !(before || []).includes(x));
      const kind = field === "techniques" ? "techniques" : null;
      const names = added.map((x) => (kind ? nameOf(kind, x) : x));
      return names.length ? `${label}：新增 ${names.join("、")}` : `${label}：有变`;
    }
    if (typeof before === "number" && typeof after === "number") {
      if (field === "breakthrough_buff") {
        return `${label} ${describeValue(field, before)} → ${describeValue(field, after)}`;
      }
      return `${label} ${signed(after - before)}（${before} → ${after}）`;
    }
    return `${label}：${describeValue(field, before)} → ${describeValue(field, after)}`;
  }

  function renderOutcome(outcome) {
    $("outcome").hidden = false;
    const summary = $("outcome-summary");
    summary.textContent = outcome.summary || "";
    summary.classList.toggle("failed", outcome.success === false);
    const list = $("outcome-changes");
    list.replaceChildren();
    const changes = outcome.changes || [];
    const realmChange = changes.find((c) => c.field === "realm");
    const stageChange = changes.find((c) => c.field === "stage");
    if ((realmChange || stageChange) && state.player) {
      // Realm and stage read as one title: 练气九层 → 筑基初期.
      const before = realmTitle(realmChange ? realmChange.before : state.player.realm,
        stageChange ? stageChange.before : state.player.stage || 0);
      const after = realmTitle(realmChange ? realmChange.after : state.player.realm,
        stageChange ? stageChange.after : state.player.stage || 0);
      const item = el("li", "up", `境界：${before} → ${after}`);
      item.dataset.field = "realm";
      list.append(item);
    }
    for (const change of changes) {
      if (QUIET_FIELDS.has(change.field)) continue;
      if (change.field === "realm" || change.field === "stage") continue;
      const item = el("li", null, changeLine(change));
      item.dataset.field = change.field;
      if (typeof change.before === "number" && typeof change.after === "number") {
        item.classList.add(change.after >= change.before ? "up" : "down");
      }
      list.append(item);
    }
  }

  function resetNarration() {
    const box = $("narration");
    box.textContent = "";
    box.dataset.deltas = "0";
    box.dataset.state = "waiting";
    $("narration-meta").textContent = "";
  }

  function appendDelta(text) {
    const box = $("narration");
    box.append(document.createTextNode(text));
    box.dataset.deltas = String(Number(box.dataset.deltas || "0") + 1);
    box.dataset.state = "streaming";
  }

  function finishNarration(narration, task) {
    const box = $("narration");
    if (narration) {
      // The final text is authoritative (a replay may send it as one piece).
      if (box.textContent !== narration.text) box.textContent = narration.text;
      $("narration-meta").textContent = narration.degraded ? "离线叙事（模板生成）" : "DeepSeek 叙事";
      box.dataset.state = "done";
    } else if (task) {
      $("narration-meta").textContent = "叙事交由后台生成中…";
      box.dataset.state = "queued";
      pollNarrationTask(task).catch(() => undefined);
    } else {
      box.dataset.state = "done";
    }
  }

  async function pollNarrationTask(task) {
    for (let i = 0; i < TASK_POLLS; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      let status;
      try {
        status = await api(task.status_url);
      } catch {
        continue;
      }
      if (status.state === "SUCCESS") {
        const result = status.result || {};
        if (typeof result.text === "string") {
          finishNarration({text: result.text, degraded: Boolean(result.degraded)}, null);
        }
        await refreshHistory();
        return;
      }
      if (status.state === "FAILURE") {
        $("narration-meta").textContent = "后台叙事失败";
        $("narration").dataset.state = "done";
        return;
      }
    }
    $("narration-meta").textContent = "后台叙事尚未完成，稍后可在往事中查看";
  }

  // ---------------------------------------------------------------- SSE over fetch()

  /**
   * Incremental Server-Sent Events parser: feed it decoded text, it calls onEvent(name, data)
   * for each complete event. Comments (": keep-alive") and blank keep-alive lines are ignored.
   */
  function sseParser(onEvent) {
    let buffer = "";
    function dispatch(block) {
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      }
      if (data.length) onEvent(name, data.join("\n"));
    }
    return {
      push(text) {
        buffer += text;
        // A "\r" at the very end may be the first half of "\r\n": keep it for the next chunk.
        const tail = buffer.endsWith("\r") ? "\r" : "";
        let work = (tail ? buffer.slice(0, -1) : buffer).replace(/\r\n?/g, "\n");
        let idx;
        while ((idx = work.indexOf("\n\n")) >= 0) {
          dispatch(work.slice(0, idx));
          work = work.slice(idx + 2);
        }
        buffer = work + tail;
      },
      end() {
        if (buffer.trim()) dispatch(buffer.replace(/\r\n?/g, "\n"));
        buffer = "";
      },
    };
  }

  /** One try at an action over SSE; throws NetworkError when the connection fails. */
  async function attemptAction(action, key) {
    let res;
    try {
      res = await fetch(`/api/players/${encodeURIComponent(state.playerId)}/actions`, {
        method: "POST",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/event-stream",
          "Idempotency-Key": key,
          ...authHeaders(),
        },
        body: JSON.stringify(action),
      });
    } catch (exc) {
      throw new NetworkError(String(exc && exc.message ? exc.message : exc));
    }
    if (!res.ok) throw await errorFrom(res);
    resetNarration(); // accepted: the old prose gives way to the new

    const type = (res.headers.get("Content-Type") || "").toLowerCase();
    if (!type.includes("text/event-stream") || !res.body) {
      // A plain JSON answer (e.g. a proxy that dropped the Accept header): same data at once.
      const body = await res.json();
      applyActionBody(body);
      finishNarration(body.narration, body.narration_task);
      return;
    }

    let done = false;
    const parser = sseParser((name, data) => {
      const payload = JSON.parse(data);
      if (name === "outcome") applyActionBody(payload);
      else if (name === "delta") appendDelta(payload.text || "");
      else if (name === "done") {
        done = true;
        finishNarration(payload.narration, payload.narration_task);
      } else if (name === "error" && payload.error) {
        showError(new ApiError(res.status, payload.error.code, payload.error.message));
      }
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder("utf-8");
    try {
      for (;;) {
        const {value, done: eof} = await reader.read();
        if (eof) break;
        parser.push(decoder.decode(value, {stream: true}));
      }
      parser.push(decoder.decode());
      parser.end();
    } catch (exc) {
      throw new NetworkError(String(exc && exc.message ? exc.message : exc));
    }
    if (!done) throw new NetworkError("叙事流提前中断");
  }

  function applyActionBody(body) {
    state.version = body.version;
    if (body.outcome) learnNpcNames(body.outcome);
    if (body.player) renderPlayer(body.player);
    if (body.outcome) renderOutcome(body.outcome);
  }

  /** Send an action; retry once with the same Idempotency-Key after a network failure. */
  async function sendAction(action) {
    if (state.busy || !state.playerId) return;
    setBusy(true);
    clearError();
    const key = newIdempotencyKey();
    const box = $("narration");
    const before = box.dataset.state;
    box.dataset.state = "waiting";
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await attemptAction(action, key);
          break;
        } catch (err) {
          // The server applied the action at most once whatever happened: the key makes the
          // retry a replay of the first result.
          if (err instanceof NetworkError && attempt < 2) continue;
          throw err;
        }
      }
    } catch (err) {
      // Refused or unreachable: the last narration stays as it was.
      if (box.dataset.state === "waiting") box.dataset.state = before;
      else box.dataset.state = "done";
      showError(err);
    } finally {
      await refreshHistory();
      setBusy(false);
    }
  }

  function setBusy(busy) {
    state.busy = busy;
    document.body.dataset.busy = busy ? "true" : "false";
    for (const b of document.querySelectorAll("#actions button, #inventory button")) {
      b.disabled = busy || b.dataset.unavailable === "true";
    }
  }

  // ---------------------------------------------------------------- history

  function historyItem(entry) {
    learnNpcNames(entry.outcome);
    const li = el("li", "history-entry");
    li.dataset.testid = "history-entry";
    li.dataset.action = entry.action && entry.action.type ? entry.action.type : "";
    li.dataset.seq = String(entry.seq);
    const head = el("div", "history-head");
    const type = entry.action ? entry.action.type : "";
    let label = ACTION_LABELS[type] || type;
    if (type === "travel" && entry.action.target) label += ` → ${nameOf("locations", entry.action.target)}`;
    if (type === "fight" && entry.action.target) label += ` · ${nameOf("monsters", entry.action.target)}`;
    if (type === "use_item" && entry.action.item) label += ` · ${nameOf("items", entry.action.item)}`;
    if (type === "talk" && entry.action.target) label += ` · ${nameOf("npcs", entry.action.target)}`;
    if (type === "create" && entry.action.name) label += ` · ${entry.action.name}`;
    head.append(el("span", "history-seq", `#${entry.seq}`), el("span", "history-action", label));
    const when = new Date(entry.created_at);
    if (!Number.isNaN(when.getTime())) head.append(el("time", "history-time muted", when.toLocaleString("zh-CN")));
    li.append(head, el("p", "history-summary", entry.summary));
    if (type === "talk" && entry.action.text) li.append(el("p", "history-said muted", `「${entry.action.text}」`));
    if (entry.narration) {
      const details = el("details", "history-narration");
      details.append(el("summary", null, entry.degraded ? "叙事（离线）" : "叙事"), el("p", null, entry.narration));
      li.append(details);
    }
    return li;
  }

  async function refreshHistory() {
    if (!state.playerId) return;
    try {
      const page = await api(`/api/players/${encodeURIComponent(state.playerId)}/log?limit=${LOG_PAGE}`);
      $("history").replaceChildren(...page.entries.map(historyItem));
      state.nextBefore = page.next_before;
      $("history-more").hidden = page.next_before === null || page.next_before === undefined;
    } catch (err) {
      showError(err);
    }
  }

  async function loadOlderHistory() {
    if (state.nextBefore === null || state.nextBefore === undefined) return;
    try {
      const id = encodeURIComponent(state.playerId);
      const page = await api(`/api/players/${id}/log?limit=${LOG_PAGE}&before=${state.nextBefore}`);
      $("history").append(...page.entries.map(historyItem));
      state.nextBefore = page.next_before;
      $("history-more").hidden = page.next_before === null || page.next_before === undefined;
    } catch (err) {
      showError(err);
    }
  }

  // ---------------------------------------------------------------- players: create and resume

  function showGame(show) {
    $("game").hidden = !show;
    $("create-section").hidden = show;
    $("switch-player").hidden = !show;
  }

  function remember(id, token, name) {
    localStorage.setItem(tokenKey(id), token);
    localStorage.setItem(CURRENT_KEY, id);
    const roster = readJson(ROSTER_KEY, {});
    roster[id] = name;
    localStorage.setItem(ROSTER_KEY, JSON.stringify(roster));
  }

  function forget(id) {
    localStorage.removeItem(tokenKey(id));
    const roster = readJson(ROSTER_KEY, {});
    delete roster[id];
    localStorage.setItem(ROSTER_KEY, JSON.stringify(roster));
    if (localStorage.getItem(CURRENT_KEY) === id) localStorage.removeItem(CURRENT_KEY);
  }

  function renderRoster() {
    const section = $("create-section");
    section.querySelector(".roster")?.remove();
    const roster = readJson(ROSTER_KEY, {});
    const ids = Object.keys(roster).filter((id) => localStorage.getItem(tokenKey(id)));
    if (!ids.length) return;
    const box = el("div", "roster");
    box.append(el("h3", null, "继续修行"));
    const list = el("ul", "roster-list");
    for (const id of ids) {
      const b = el("button", "link-button", roster[id]);
      b.type = "button";
      b.dataset.testid = "roster-entry";
      b.addEventListener("click", () => resume(id));
      const li = el("li");
      li.append(b);
      list.append(li);
    }
    box.append(list);
    section.append(box);
  }

  async function createPlayer(name) {
    clearError();
    const button = document.querySelector('[data-testid="create-button"]');
    button.disabled = true;
    try {
      const body = await api("/api/players", {method: "POST", body: {name}});
      state.playerId = body.player.id;
      state.token = body.token;
      state.version = body.version;
      remember(body.player.id, body.token, body.player.name);
      showGame(true);
      renderPlayer(body.player);
      $("outcome").hidden = true;
      resetNarration();
      $("narration").dataset.state = "idle";
      await refreshHistory();
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
    }
  }

  async function resume(id) {
    const token = localStorage.getItem(tokenKey(id));
    if (!token) return false;
    state.playerId = id;
    state.token = token;
    try {
      const body = await api(`/api/players/${encodeURIComponent(id)}`);
      state.version = body.version;
      localStorage.setItem(CURRENT_KEY, id);
      showGame(true);
      renderPlayer(body.player);
      await refreshHistory();
      return true;
    } catch (err) {
      state.playerId = null;
      state.token = null;
      if (err instanceof ApiError && [401, 403, 404].includes(err.status)) forget(id);
      else showError(err);
      return false;
    }
  }

  function leave() {
    localStorage.removeItem(CURRENT_KEY);
    state.playerId = null;
    state.token = null;
    state.player = null;
    $("history").replaceChildren();
    $("outcome").hidden = true;
    resetNarration();
    $("narration").dataset.state = "idle";
    showGame(false);
    renderRoster();
    $("name-input").focus();
  }

  // ---------------------------------------------------------------- wiring

  function wire() {
    $("create-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = $("name-input").value.trim();
      if (name) createPlayer(name);
    });
    $("error-close").addEventListener("click", clearError);
    $("switch-player").addEventListener("click", leave);
    $("history-more").addEventListener("click", loadOlderHistory);

    for (const button of document.querySelectorAll("#actions button[data-action]")) {
      if (button.type === "submit") continue; // talk goes through its form
      button.addEventListener("click", () => {
        const type = button.dataset.action;
        const action = {type};
        if (type === "travel") {
          action.target = $("travel-target").value;
          if (!action.target) return;
        }
        if (type === "fight" && $("fight-target").value) action.target = $("fight-target").value;
        if (type === "breakthrough" && $("breakthrough-item").value) {
          action.item = $("breakthrough-item").value;
        }
        sendAction(action);
      });
    }
    $("talk-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const action = {type: "talk"};
      const text = $("talk-text").value.trim();
      if (text) action.text = text;
      if ($("talk-target").value) action.target = $("talk-target").value;
      sendAction(action).then(() => {
        if (!$("error").hidden) return; // keep the words when the action was refused
        $("talk-text").value = "";
      });
    });
  }

  async function start() {
    wire();
    await Promise.all([loadHealth(), loadWorld()]);
    const current = localStorage.getItem(CURRENT_KEY);
    if (current && (await resume(current))) return;
    showGame(false);
    renderRoster();
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch(showError);
  });
})();
