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
  const RECOVERY_PREFIX = "XW1.";                 // recovery code: XW1.<base64url(id \n token)>
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
    pending_choice: "抉择",
    breakthrough_buff: "突破加成",
    failed_breakthroughs: "突破失败",
    injury: "伤势",
    heart_demon: "心魔",
    preparation: "闭关准备",
    sect: "宗门",
    sect_rank: "宗门职位",
    contribution: "贡献",
    favour: "好感",
    quests: "任务进度",
    recipes: "丹方",
    alchemy_exp: "炼丹经验",
    forging_exp: "炼器经验",
    ended: "道途终结",
    end_cause: "终结缘由",
  };

  // Fields whose change is bookkeeping rather than news for the player (fate_counter counts
  // the hidden fate draws; claimed lists one-time rewards already given).
  const QUIET_FIELDS = new Set(["turn", "fate_counter", "claimed", "legacy_from"]);

  const END_CAUSES = {
    old_age: "寿元耗尽", tribulation: "陨于天劫", slain: "战死", ascended: "飞升",
  };

  // Map-valued fields: their change is shown entry by entry, with the entry's name.
  const MAP_KINDS = {favour: "npcs", quests: "quests"};

  // ---------------------------------------------------------------- page state

  const state = {
    playerId: null,
    token: null,
    player: null,
    version: null,
    busy: false,
    nextBefore: null,
    options: [],          // what the rules allow now (GET /options), drawn as the controls
    lastControl: null,    // data-testid of the control that sent the last action
    world: {realms: [], roots: {}, locations: {}, items: {}, techniques: {}, monsters: {}, npcs: {},
      sects: {}, shops: {}, recipes: {}, quests: {}},
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

  const HAS_CJK = /[\u4e00-\u9fff]/;
  const STATUS_WORDS = {
    400: "这个请求有些不对，请换个做法。",
    401: "身份凭证已失效，请重新踏入仙途或输入恢复码。",
    403: "身份凭证已失效，请重新踏入仙途或输入恢复码。",
    404: "找不到这位修士，请重新踏入仙途或输入恢复码。",
    409: "此刻有别的行动正在进行，请稍候再试。",
    413: "说的话太长了，请简短些。",
    422: "此刻做不到。",
    429: "行动太快了，歇一口气再来。",
  };

  /** What a player reads for an error: the server's Chinese message, never a code or a URL. */
  function friendly(err) {
    if (err instanceof ApiError) {
      if (err.message && HAS_CJK.test(err.message)) return err.message;
      return STATUS_WORDS[err.status] || "天机紊乱，请稍候再试。";
    }
    if (err instanceof NetworkError) return "与仙界的联系中断了，请检查网络后再试。";
    return "出了点意外，请刷新页面再试。";
  }

  /** Show an error where the player is looking: beside the actions, in place of the outcome. */
  function showError(err) {
    const box = $("error");
    $("error-message").textContent = friendly(err);
    box.dataset.code = err instanceof ApiError ? err.code : "network";
    box.dataset.status = err instanceof ApiError ? String(err.status) : "0";
    if ($("game").hidden) {
      const msg = $("create-error");
      msg.textContent = friendly(err);
      msg.hidden = false;
      return;
    }
    $("outcome").hidden = true;
    box.hidden = false;
    box.scrollIntoView({block: "nearest"});
  }

  function clearError() {
    $("error").hidden = true;
    $("error-message").textContent = "";
    $("create-error").hidden = true;
  }

  async function loadHealth() {
    const info = $("server-info");
    try {
      const health = await api("/healthz");
      const mode = health.llm_mode === "online" ? "在线叙事" : "离线叙事";
      info.textContent = `${health.app} · v${health.version} · ${mode}`;  // operators only
      info.dataset.llmMode = health.llm_mode;
      $("offline-notice").hidden = health.llm_mode !== "offline";
    } catch {
      info.textContent = "服务器无响应";
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
    const meter = bar.parentElement;  // role="progressbar": screen readers read the numbers
    meter.setAttribute("aria-valuenow", String(Math.max(0, Math.min(value, max))));
    meter.setAttribute("aria-valuemax", String(max));
    meter.setAttribute("aria-valuetext", max > 0 ? `${value} / ${max}` : String(value));
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

    renderConditions(player);
    renderEnded(player);
    renderLocation(player);
    renderTechniques(player);
    renderInventory(player);
  }

  /** Lasting states the rules keep: injuries, 心魔, preparation, and the sect. */
  function renderConditions(player) {
    const box = $("conditions");
    box.replaceChildren();
    if (player.injury > 0) box.append(el("span", "condition", `伤势 ${player.injury} 重（修炼变慢，调息可愈）`));
    if (player.heart_demon > 0) box.append(el("span", "condition", `心魔 ${player.heart_demon} 层`));
    if (player.preparation > 0) box.append(el("span", "condition good", `冲关准备 ${player.preparation}`));
    const sect = player.sect ? state.world.sects[player.sect] : null;
    $("sect-heading").hidden = !player.sect;
    $("sect-line").hidden = !player.sect;
    if (player.sect) {
      const ranks = sect && sect.ranks ? sect.ranks : [];
      const rank = ranks[player.sect_rank || 0];
      const rankName = rank ? rank.name || rank.title || "" : "";
      $("sect-line").textContent = `${sect ? sect.name : player.sect}${rankName ? ` · ${rankName}` : ""} · 贡献 ${player.contribution || 0}`;
    }
  }

  const END_TITLES = {
    old_age: "寿元耗尽，坐化而去",
    tribulation: "渡天劫失败，身死道消",
    slain: "败于强敌之手，就此陨落",
    ascended: "渡劫圆满，白日飞升",
  };

  /** The end of a story: said plainly, with the way to a new, different one. */
  function renderEnded(player) {
    const box = $("ended");
    box.hidden = !player.ended;
    if (!player.ended) return;
    $("ended-title").textContent = `${player.name}：${END_TITLES[player.end_cause] || "道途已尽"}`;
    $("ended-text").textContent = player.end_cause === "ascended"
      ? "其名已入飞升榜。后来者可承其一缕遗泽，另开新篇。"
      : "一世修行至此而止。转世之人可承其些许遗泽，从头再来。";
  }

  function renderLocation(player) {
    const loc = state.world.locations[player.location];
    const danger = loc ? ` · 凶险 ${"★".repeat(Math.min(loc.danger, 10)) || "无"}` : "";
    $("location").textContent = (loc ? loc.name : player.location) + danger;
    $("location-desc").textContent = loc ? loc.description : "";

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
    const entries = Object.entries(player.inventory || {}).filter(([, n]) => n > 0);
    for (const [id, count] of entries) {
      const item = state.world.items[id];
      const name = item ? item.name : nameOf("items", id);
      const row = el("li", "item");
      row.dataset.testid = `item-${id}`;
      const label = el("span", "item-name", name);
      if (item) label.title = `${item.grade} · ${item.description}`;
      row.append(label, el("span", "item-count", `×${count}`));
      if (player.equipped === id) row.append(el("span", "badge", "已装备"));
      const use = el("button", "small-button", "使用");
      use.type = "button";
      use.dataset.testid = `use-item-${id}`;
      use.setAttribute("aria-label", `使用${name}`);
      use.addEventListener("click", () => sendAction({type: "use_item", item: id}, use));
      row.append(use);
      const why = el("span", "why small", "");
      why.id = `why-item-${id}`;
      row.append(why);
      list.append(row);
    }
    if (!entries.length) list.append(el("li", "muted", "空空如也"));
    applyItemOptions();
  }

  // ---------------------------------------------------------------- what can be done now

  /** The options of one action type from the last GET /options (null before it arrives). */
  function optionOf(type) {
    return state.options.find((o) => o.type === type) || null;
  }

  /** Use buttons follow the rules: an item that does nothing now says why, by its button. */
  function applyItemOptions() {
    const opt = optionOf("use_item");
    for (const button of document.querySelectorAll("#inventory button[data-testid^='use-item-']")) {
      const id = button.dataset.testid.slice("use-item-".length);
      const choice = opt ? opt.choices.find((c) => c.params.item === id) : null;
      const ok = !choice || choice.ok;
      markAvailable(button, ok);
      const why = $(`why-item-${id}`);
      if (why) why.textContent = ok ? "" : choice.reason;
      if (why && !ok) button.setAttribute("aria-describedby", why.id);
      else button.removeAttribute("aria-describedby");
    }
  }

  function markAvailable(control, ok) {
    control.dataset.unavailable = ok ? "false" : "true";
    control.setAttribute("aria-disabled", state.busy || !ok ? "true" : "false");
  }

  const PLAIN_CHOICE = {breakthrough: "不服丹药", fight: "随缘遇敌"};

  // The page's grouping of actions (layout only: what can be done comes from the options). An
  // action type not listed here lands in 其他. Quiet panels fold away when nothing in them fits.
  const PANELS = [
    {id: "choice", title: "抉择", types: ["choose"], quiet: false},
    {id: "cultivation", title: "修行", types: ["cultivate", "breakthrough", "prepare", "ascend", "rest"]},
    {id: "travel", title: "游历", types: ["explore", "travel", "fight", "flee"]},
    {id: "people", title: "人情", types: ["talk", "give", "quest"]},
    {id: "sect", title: "宗门", types: ["join_sect", "sect_mission", "exchange", "promote", "leave_sect"], quiet: true},
    {id: "market", title: "坊市", types: ["buy", "sell"], quiet: true},
    {id: "craft", title: "炼制", types: ["craft", "learn"], quiet: true},
    {id: "other", title: "其他", types: [], quiet: true},
  ];

  function panelFor(panels, opt) {
    const pending = state.player && state.player.pending_choice;
    const panel = (pending && opt.type === "flee") ? PANELS[0]
      : PANELS.find((p) => p.types.includes(opt.type)) || PANELS[PANELS.length - 1];
    if (!panels.has(panel.id)) {
      const section = el("section", `panel panel-${panel.id}`);
      section.dataset.panel = panel.id;
      section.dataset.testid = `panel-${panel.id}`;
      section.setAttribute("aria-label", panel.title);
      section.append(el("h3", null, panel.title));
      panels.set(panel.id, section);
    }
    return panels.get(panel.id);
  }

  /** One row per action type: its button, a chooser when it takes a target or item, and the
   * rules' reason when it cannot be done now. Built from the options, so new actions appear
   * without page changes; controls keep their data-testids so focus can come back to them. */
  function renderActions() {
    const box = $("actions");
    const focused = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.testid : null;
    const previous = {};
    for (const sel of box.querySelectorAll("select")) previous[sel.id] = sel.value;
    const talkText = $("talk-text") ? $("talk-text").value : "";
    box.replaceChildren();
    const panels = new Map();
    const ended = Boolean(state.player && state.player.ended);
    for (const opt of state.options) {
      if (opt.type === "use_item") continue; // drawn beside each item in the bag
      if (ended) continue; // the story is over: the end card speaks instead
      const pending = state.player && state.player.pending_choice;
      if (opt.type === "choose" && !pending) continue;
      if (opt.type === "flee" && !pending && !opt.choices.some((c) => c.ok)) continue;
      // While a choice waits, only the choice can be made: the other controls step aside.
      if (pending && !["choose", "flee"].includes(opt.type)) continue;
      const row = el(opt.type === "talk" ? "form" : "div", "action-row");
      row.dataset.type = opt.type;
      const button = el("button", null, opt.label);
      button.type = opt.type === "talk" ? "submit" : "button";
      button.dataset.action = opt.type;
      button.dataset.testid = `action-${opt.type}`;
      row.append(button);
      const params = opt.choices.filter((c) => Object.keys(c.params).length);
      const plain = opt.choices.find((c) => !Object.keys(c.params).length);
      const usable = opt.choices.filter((c) => c.ok);
      let select = null;
      if (params.length) {
        select = el("select");
        // One chooser per action; its id names the parameter when there is one (travel-target).
        const fields = [...new Set(params.flatMap((c) => Object.keys(c.params)))];
        select.id = `${opt.type}-${fields.length === 1 ? fields[0] : "choice"}`;
        select.dataset.testid = select.id;
        select.setAttribute("aria-label", `${opt.label}：选择${fields.includes("target") ? "对象" : "物品"}`);
        if (plain) {
          const o = el("option", null, PLAIN_CHOICE[opt.type] || "不指定");
          o.value = "";
          select.append(o);
        }
        // Only what can be done is offered; the rest is explained (the map shows the places).
        for (const c of params.filter((p) => p.ok)) {
          const o = el("option", null, c.name);
          o.value = fields.length === 1 ? c.params[fields[0]] : JSON.stringify(c.params);
          o.dataset.params = JSON.stringify(c.params);
          select.append(o);
        }
        if ([...select.options].some((o) => o.value === previous[select.id])) {
          select.value = previous[select.id];
        }
        if (select.options.length) row.append(select);
        else select = null;
      }
      if (opt.type === "talk") {
        const input = el("input");
        input.type = "text";
        input.id = "talk-text";
        input.dataset.testid = "talk-text";
        input.maxLength = 2000;
        input.placeholder = "想说的话";
        input.setAttribute("aria-label", "想说的话");
        input.value = talkText;
        row.append(input);
      }
      const why = el("p", "why small");
      why.id = `why-${opt.type}`;
      why.dataset.testid = `why-${opt.type}`;
      if (!usable.length) why.textContent = (opt.choices[0] && opt.choices[0].reason) || "此刻做不到。";
      row.append(why);
      button.setAttribute("aria-describedby", why.id);
      markAvailable(button, usable.length > 0);
      if (select) select.setAttribute("aria-disabled", usable.length ? "false" : "true");
      panelFor(panels, opt).append(row);
      row.addEventListener(opt.type === "talk" ? "submit" : "click", (ev) => {
        if (opt.type === "talk") ev.preventDefault();
        else if (ev.target !== button) return;
        let action = {type: opt.type};
        const chosen = select ? select.selectedOptions[0] : null;
        if (chosen && chosen.dataset.params) action = {...action, ...JSON.parse(chosen.dataset.params)};
        if (opt.type === "talk") {
          const text = $("talk-text").value.trim();
          if (text) action.text = text;
        }
        if (params.length && !plain && Object.keys(action).length === 1 && opt.type !== "talk") return;
        sendAction(action, button).then((ok) => {
          if (ok && opt.type === "talk") $("talk-text").value = "";
        });
      });
    }
    if (state.player && state.player.pending_choice && panels.has("choice")) {
      panels.get("choice").append(el("p", "why small", "先作出抉择，其余行动稍后再说。"));
    }
    for (const panel of PANELS) {
      const p = panels.get(panel.id);
      if (!p) continue;
      const usable = p.querySelectorAll('button[data-unavailable="false"]').length;
      if (panel.quiet && !usable) {
        // Nothing of it can be done here and now: one closed line, the reasons inside.
        const details = el("details", "panel panel-quiet");
        details.dataset.panel = panel.id;
        details.append(el("summary", null, `${panel.title}（此刻无可为）`), ...p.childNodes);
        box.append(details);
      } else {
        box.append(p);
      }
    }
    applyItemOptions();
    renderMap();
    if (focused) {
      const again = document.querySelector(`[data-testid="${focused}"]`);
      if (again) again.focus();
    }
  }

  /** The places of the world: where you are, where you can go now, and what is locked. */
  function renderMap() {
    const list = $("map");
    if (!state.player) return;
    const travel = optionOf("travel");
    const choices = travel ? travel.choices : [];
    list.replaceChildren();
    for (const loc of Object.values(state.world.locations)) {
      const li = el("li", "place");
      li.dataset.testid = `place-${loc.id}`;
      const name = el("span", "place-name", loc.name);
      li.append(name);
      const danger = el("span", "place-danger muted small",
        loc.danger ? `凶险 ${"★".repeat(Math.min(loc.danger, 10))}` : "安宁");
      li.append(danger);
      if (loc.id === state.player.location) {
        li.classList.add("here");
        li.dataset.state = "here";
        li.append(el("span", "badge", "你在此"));
        li.setAttribute("aria-current", "location");
      } else {
        const c = choices.find((x) => x.params.target === loc.id);
        if (c && c.ok) {
          li.dataset.state = "open";
          const route = (state.world.locations[state.player.location]?.routes || [])
            .find((r) => r.to === loc.id);
          const go = el("button", "small-button", route ? `前往（${route.cost} 日）` : "前往");
          go.type = "button";
          go.dataset.testid = `go-${loc.id}`;
          go.setAttribute("aria-label", `前往${loc.name}`);
          markAvailable(go, true);
          go.addEventListener("click", () => sendAction({type: "travel", target: loc.id}, go));
          li.append(go);
        } else if (lockedBy(loc)) {
          li.dataset.state = "locked";
          li.classList.add("locked");
          li.append(el("span", "lock small", `未开放：须${lockedBy(loc)}以上修为`));
        } else {
          li.dataset.state = "far";
          li.classList.add("far");
          li.append(el("span", "muted small", "需途经他处"));
        }
      }
      list.append(li);
    }
  }

  /** The realm a place asks for, when the player has not reached it yet (else null). */
  function lockedBy(loc) {
    if (!loc.min_realm || !state.player) return null;
    const need = state.world.realms.findIndex((r) => r.id === loc.min_realm);
    const have = state.world.realms.findIndex((r) => r.id === state.player.realm);
    return need > have ? state.world.realms[need].name : null;
  }

  /** The hall of the ascended (public); hidden while it is empty or not served. */
  async function refreshHall() {
    let body;
    try {
      body = await api("/api/hall?limit=10");
    } catch {
      $("hall-card").hidden = true;
      return;
    }
    const entries = body.entries || [];
    $("hall").replaceChildren(...entries.map((e) => {
      const realm = realmOf(e.realm);
      const li = el("li", null, `${e.name} · ${realm ? realm.name : e.realm || ""}`);
      li.dataset.testid = "hall-entry";
      return li;
    }));
    $("hall-card").hidden = entries.length === 0;
  }

  async function refreshOptions() {
    if (!state.playerId) return;
    try {
      const body = await api(`/api/players/${encodeURIComponent(state.playerId)}/options`);
      state.options = body.options || [];
    } catch {
      return; // the old controls stay; the server still checks every action
    }
    renderActions();
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
    if (field === "sect") return value ? nameOf("sects", value) : "无";
    if (field === "ended") return value ? "是" : "否";
    if (field === "end_cause") return END_CAUSES[value] || (value ? String(value) : "无");
    if (value === null || value === undefined) return "无";
    return String(value);
  }

  function changeLine(change) {
    const {field, before, after} = change;
    if (field.startsWith("inventory.")) {
      const id = field.slice("inventory.".length);
      return `${nameOf("items", id)} ${signed(after - before)}（${before} → ${after}）`;
    }
    const label = FIELD_LABELS[field] || field;
    if (field in MAP_KINDS) {
      const was = before || {};
      const now = after || {};
      const ids = [...new Set([...Object.keys(was), ...Object.keys(now)])]
        .filter((id) => (was[id] || 0) !== (now[id] || 0));
      const parts = ids.map((id) => {
        const a = Number(was[id] || 0);
        const b = Number(now[id] || 0);
        return `${nameOf(MAP_KINDS[field], id)} ${signed(b - a)}（${a} → ${b}）`;
      });
      return parts.length ? `${label}：${parts.join("、")}` : `${label}：有变`;
    }
    if (Array.isArray(before) || Array.isArray(after)) {
      const added = (after || []).filter((x) => !(before || []).includes(x));
      const kinds = {techniques: "techniques", met_npcs: "npcs", recipes: "recipes"};
      const kind = kinds[field] || null;
      const names = added.map((x) => (kind ? nameOf(kind, x) : x));
      return names.length ? `${label}：${names.join("、")}` : `${label}：有变`;
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
      $("narration-meta").textContent = narration.degraded ? "本地说书人讲述" : "说书人讲述";
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

  /** Send an action; retry once with the same Idempotency-Key after a network failure.
   * Resolves to true when the action was applied. Focus comes back to ``control`` after. */
  async function sendAction(action, control) {
    if (state.busy || !state.playerId) return false;
    if (control && control.dataset.unavailable === "true") {
      showError(new ApiError(422, "unavailable", $(control.getAttribute("aria-describedby") || "")?.textContent || "此刻做不到。"));
      return false;
    }
    state.lastControl = control && control.dataset.testid ? control.dataset.testid : null;
    let applied = false;
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
          applied = true;
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
      await Promise.all([refreshHistory(), refreshOptions()]);
      setBusy(false);
      restoreFocus();
    }
    return applied;
  }

  /** Keyboard play: the control that was used has the focus again after the action. */
  function restoreFocus() {
    const id = state.lastControl;
    const again = id ? document.querySelector(`[data-testid="${id}"]`) : null;
    if (again && document.activeElement !== again) {
      again.focus();
    } else if (!again && id) {
      // The control is gone: a choice now waits (go to it), or the story ended.
      const choice = document.querySelector('[data-testid="choose-target"], [data-testid="action-choose"]');
      (choice || $("actions-title")).focus();
    }
  }

  /** While an action runs every control says so (aria-disabled keeps the focus in place,
   * where the disabled attribute would drop it to the page). */
  function setBusy(busy) {
    state.busy = busy;
    document.body.dataset.busy = busy ? "true" : "false";
    document.body.setAttribute("aria-busy", busy ? "true" : "false");
    for (const b of document.querySelectorAll("#actions button, #inventory button, #map button")) {
      b.setAttribute("aria-disabled", busy || b.dataset.unavailable === "true" ? "true" : "false");
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
    let label = ACTION_LABELS[type] || (optionOf(type) && optionOf(type).label) || type;
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
      details.append(el("summary", null, "叙事"), el("p", null, entry.narration));
      li.append(details);
    }
    return li;
  }

  /** After creation or a reload: the latest entry's story, so the page never opens blank. */
  function showLatest(entry) {
    if (!entry) return;
    const box = $("narration");
    box.textContent = entry.narration || entry.summary || "";
    box.dataset.state = "done";
    $("narration-meta").textContent = entry.narration
      ? (entry.degraded ? "本地说书人讲述" : "说书人讲述") : "";
  }

  async function refreshHistory(showLast = false) {
    if (!state.playerId) return;
    try {
      const page = await api(`/api/players/${encodeURIComponent(state.playerId)}/log?limit=${LOG_PAGE}`);
      if (showLast) showLatest(page.entries[0]);
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
    $("loading").hidden = true;
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

  /** Make a cultivator; ``heir`` (the ended predecessor's id and token) passes on its legacy. */
  async function createPlayer(name, heir) {
    clearError();
    const button = document.querySelector('[data-testid="create-button"]');
    button.disabled = true;
    try {
      const payload = heir ? {name, heir_of: heir} : {name};
      const body = await api("/api/players", {method: "POST", body: payload});
      state.playerId = body.player.id;
      state.token = body.token;
      state.version = body.version;
      remember(body.player.id, body.token, body.player.name);
      showGame(true);
      renderPlayer(body.player);
      renderRecovery();
      $("outcome").hidden = true;
      resetNarration();
      $("narration").dataset.state = "idle";
      await Promise.all([refreshHistory(true), refreshOptions(), refreshHall()]);
      $("actions-title").focus();
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
      renderRecovery();
      await Promise.all([refreshHistory(true), refreshOptions(), refreshHall()]);
      return true;
    } catch (err) {
      state.playerId = null;
      state.token = null;
      if (err instanceof ApiError && [401, 403, 404].includes(err.status)) forget(id);
      else showError(err);
      return false;
    }
  }

  // ---------------------------------------------------------------- recovery code

  function b64url(text) {
    const bytes = new TextEncoder().encode(text);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function unb64url(text) {
    const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  }

  /** The player id and token in one copyable line: all another device needs to continue. */
  function recoveryCode() {
    return RECOVERY_PREFIX + b64url(`${state.playerId}\n${state.token}`);
  }

  function parseRecoveryCode(code) {
    const text = code.trim();
    if (!text.startsWith(RECOVERY_PREFIX)) return null;
    try {
      const [id, token] = unb64url(text.slice(RECOVERY_PREFIX.length)).split("\n");
      return id && token ? {id, token} : null;
    } catch {
      return null;
    }
  }

  function renderRecovery() {
    $("recovery-code").value = recoveryCode();
    $("recovery-status").textContent = "";
  }

  async function copyRecovery() {
    const input = $("recovery-code");
    input.select();
    try {
      await navigator.clipboard.writeText(input.value);
      $("recovery-status").textContent = "已复制";
    } catch {
      // No clipboard API (plain http): the code is selected, ready for Ctrl+C.
      $("recovery-status").textContent = "已选中，请按 Ctrl+C 复制";
    }
  }

  async function restoreFrom(code) {
    clearError();
    const parsed = parseRecoveryCode(code);
    if (!parsed) {
      showError(new ApiError(400, "bad_recovery_code", "恢复码不对，请检查是否完整复制。"));
      return;
    }
    localStorage.setItem(tokenKey(parsed.id), parsed.token);
    if (await resume(parsed.id)) {
      const roster = readJson(ROSTER_KEY, {});
      roster[parsed.id] = state.player ? state.player.name : parsed.id;
      localStorage.setItem(ROSTER_KEY, JSON.stringify(roster));
      $("restore-input").value = "";
      $("actions-title").focus();
    } else {
      showError(new ApiError(404, "bad_recovery_code", "这个恢复码找不到对应的修士。"));
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
    $("error-close").addEventListener("click", () => {
      clearError();
      $("actions-title").focus();
    });
    $("switch-player").addEventListener("click", leave);
    $("history-more").addEventListener("click", loadOlderHistory);
    $("recovery-copy").addEventListener("click", copyRecovery);
    $("heir-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = $("heir-name").value.trim();
      if (name && state.playerId) {
        createPlayer(name, {player_id: state.playerId, token: state.token});
      }
    });
    $("restore-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      restoreFrom($("restore-input").value);
    });
  }

  async function start() {
    wire();
    loadHealth(); // the operators' status line; nothing waits for it
    await loadWorld();
    const current = localStorage.getItem(CURRENT_KEY);
    if (current && (await resume(current))) return;
    showGame(false);
    renderRoster();
  }

  document.addEventListener("DOMContentLoaded", () => {
    start().catch(showError);
  });
})();
