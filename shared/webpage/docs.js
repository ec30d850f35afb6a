// The API documentation page (/docs): renders /openapi.json with textContent only.
"use strict";
// Renders /openapi.json (OpenAPI 3.x with JSON Schema from pydantic) as readable HTML.
// Everything is built with textContent, so descriptions are never parsed as HTML.
(() => {
  const METHODS = ["get", "post", "put", "patch", "delete", "head", "options"];
  let spec = null;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /** Text with ``code`` spans (docstring style) as text and <code> nodes, never as HTML. */
  function rich(tag, className, text) {
    const node = el(tag, className);
    String(text || "").split(/``(.+?)``/).forEach((part, i) => {
      if (part) node.append(i % 2 ? el("code", null, part) : document.createTextNode(part));
    });
    return node;
  }

  /** Follow a local "#/..." reference; returns [schema, name]. */
  function resolve(ref) {
    const parts = ref.replace(/^#\//, "").split("/").map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
    let node = spec;
    for (const p of parts) node = node && node[p];
    return [node || {}, parts[parts.length - 1]];
  }

  /** A short type label: "string", "integer | null", "array<ErrorBody>", "map<string, integer>". */
  function typeLabel(schema) {
    if (!schema || typeof schema !== "object") return "any";
    if (schema.$ref) return resolve(schema.$ref)[1];
    if ("const" in schema) return JSON.stringify(schema.const);
    if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    const union = schema.anyOf || schema.oneOf;
    if (union) return union.map(typeLabel).join(" | ");
    if (schema.allOf && schema.allOf.length === 1) return typeLabel(schema.allOf[0]);
    let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
    if (type === "array") return `array<${typeLabel(schema.items)}>`;
    if (type === "object" && !schema.properties && schema.additionalProperties) {
      return schema.additionalProperties === true ? "object" : `map<string, ${typeLabel(schema.additionalProperties)}>`;
    }
    if (schema.format) type = `${type || "string"} (${schema.format})`;
    return type || (schema.properties ? "object" : "any");
  }

  function constraints(schema) {
    const out = [];
    const keys = ["minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
                  "exclusiveMaximum", "minItems", "maxItems", "pattern"];
    const inner = [schema, ...((schema.anyOf || schema.oneOf || []))];
    for (const s of inner) {
      for (const k of keys) if (s && s[k] !== undefined) out.push(`${k}: ${s[k]}`);
    }
    if (schema.default !== undefined) out.push(`default: ${JSON.stringify(schema.default)}`);
    return out;
  }

  /** The object schema a field leads to (through $ref, array items, nullable unions), if any. */
  function nestedObject(schema, seen) {
    if (!schema || typeof schema !== "object") return null;
    if (schema.$ref) {
      if (seen.has(schema.$ref)) return null;
      const [target, name] = resolve(schema.$ref);
      return {schema: target, name, ref: schema.$ref};
    }
    if (schema.type === "array") return nestedObject(schema.items, seen);
    const union = schema.anyOf || schema.oneOf;
    if (union) {
      for (const s of union) {
        const found = nestedObject(s, seen);
        if (found) return found;
      }
    }
    if (schema.properties) return {schema, name: schema.title || null, ref: null};
    return null;
  }

  /** A schema as a table of fields, nested objects folded in <details>. */
  function renderSchema(schema, seen = new Set()) {
    const box = el("div", "schema");
    let target = schema;
    if (schema && schema.$ref) {
      const [resolved, name] = resolve(schema.$ref);
      box.append(el("div", "schema-name", name));
      seen = new Set([...seen, schema.$ref]);
      target = resolved;
    } else if (target && target.title && target.properties) {
      box.append(el("div", "schema-name", target.title));
    }
    if (!target || !target.properties) {
      const line = el("div");
      line.append(el("span", "type", typeLabel(target)));
      for (const c of constraints(target || {})) line.append(" ", el("span", "constraint", c));
      box.append(line);
      const nested = target && nestedObject(target, seen);
      if (nested && nested.ref) box.append(renderSchema({$ref: nested.ref}, seen));
      return box;
    }
    if (target.description) box.append(rich("p", "muted desc", target.description));
    const table = el("table");
    const head = el("tr");
    for (const h of ["字段", "类型", "说明"]) head.append(el("th", null, h));
    table.append(head);
    const required = new Set(target.required || []);
    for (const [name, prop] of Object.entries(target.properties)) {
      const row = el("tr");
      const nameCell = el("td");
      nameCell.append(el("code", null, name));
      if (required.has(name)) nameCell.append(el("span", "req", "*"));
      const typeCell = el("td");
      typeCell.append(el("span", "type", typeLabel(prop)));
      const descCell = el("td");
      if (prop.description) descCell.append(rich("div", null, prop.description));
      else if (prop.title && prop.title.toLowerCase() !== name.replace(/_/g, " ")) descCell.append(el("div", "muted", prop.title));
      for (const c of constraints(prop)) descCell.append(el("span", "constraint", c));
      const nested = nestedObject(prop, seen);
      if (nested) {
        const details = el("details");
        details.append(el("summary", "muted", nested.name ? `展开 ${nested.name}` : "展开"));
        details.append(renderSchema(nested.ref ? {$ref: nested.ref} : nested.schema, seen));
        descCell.append(details);
      }
      row.append(nameCell, typeCell, descCell);
      table.append(row);
    }
    box.append(table);
    return box;
  }

  function renderContent(content) {
    const wrap = el("div");
    for (const [mime, media] of Object.entries(content || {})) {
      wrap.append(el("div", "muted", mime));
      if (media.schema) wrap.append(renderSchema(media.schema));
    }
    return wrap;
  }

  function renderParameters(params) {
    const table = el("table");
    const head = el("tr");
    for (const h of ["名称", "位置", "类型", "说明"]) head.append(el("th", null, h));
    table.append(head);
    for (let p of params) {
      if (p.$ref) p = resolve(p.$ref)[0];
      const row = el("tr");
      const name = el("td");
      name.append(el("code", null, p.name));
      if (p.required) name.append(el("span", "req", "*"));
      const desc = rich("td", null, p.description || (p.schema && p.schema.description) || "");
      for (const c of constraints(p.schema || {})) desc.append(el("span", "constraint", c));
      row.append(name, el("td", null, p.in), el("td", "type", typeLabel(p.schema)), desc);
      table.append(row);
    }
    return table;
  }

  function anchor(method, path) {
    return `op-${method}-${path.replace(/[^a-zA-Z0-9]+/g, "-")}`;
  }

  function renderOperation(path, method, op, shared) {
    const card = el("section", "op");
    card.id = anchor(method, path);
    card.dataset.testid = "docs-operation";
    card.dataset.path = path;
    card.dataset.method = method;
    const head = el("div", "op-head");
    head.append(el("span", `method m-${method}`, method), el("span", "path", path));
    if (op.summary) head.append(rich("span", "op-summary", op.summary));
    card.append(head);
    if (op.description && op.description !== op.summary) card.append(rich("p", "desc", op.description));

    const params = [...(shared || []), ...(op.parameters || [])];
    if (params.length) {
      card.append(el("h3", null, "参数"));
      card.append(renderParameters(params));
    }
    if (op.requestBody) {
      let body = op.requestBody;
      if (body.$ref) body = resolve(body.$ref)[0];
      card.append(el("h3", null, body.required ? "请求体（必需）" : "请求体"));
      card.append(renderContent(body.content));
    }
    const responses = Object.entries(op.responses || {});
    if (responses.length) {
      card.append(el("h3", null, "响应"));
      for (let [status, resp] of responses) {
        if (resp.$ref) resp = resolve(resp.$ref)[0];
        const box = el("div", "response");
        const line = el("div");
        const isErr = /^[45]/.test(status);
        line.append(el("span", isErr ? "status err" : "status", status), " ", rich("span", "muted", resp.description || ""));
        box.append(line);
        if (resp.content) box.append(renderContent(resp.content));
        card.append(box);
      }
    }
    return card;
  }

  function render() {
    const info = spec.info || {};
    document.title = `${info.title || "API"} · 文档`;
    document.getElementById("title").textContent = info.title || "API 文档";
    document.getElementById("version").textContent =
      `v${info.version || "?"} · OpenAPI ${spec.openapi || spec.swagger || "?"}`;
    const content = document.getElementById("content");
    const toc = document.getElementById("toc");
    content.replaceChildren();
    toc.replaceChildren();

    const groups = new Map();
    for (const [path, item] of Object.entries(spec.paths || {}).sort(([a], [b]) => a.localeCompare(b))) {
      const group = path.split("/").filter(Boolean).slice(0, path.startsWith("/api/") ? 2 : 1).join("/") || "/";
      for (const method of METHODS) {
        if (!item[method]) continue;
        if (!groups.has(group)) groups.set(group, []);
        groups.get(group).push([path, method, item[method], item.parameters]);
      }
    }
    if (!groups.size) content.append(el("p", "muted", "文档中没有接口。"));
    for (const [group, ops] of groups) {
      toc.append(el("h2", null, `/${group}`));
      const list = el("ul");
      for (const [path, method, op, shared] of ops) {
        const a = el("a");
        a.href = `#${anchor(method, path)}`;
        a.append(el("span", `method m-${method}`, method), el("span", null, path));
        const li = el("li");
        li.dataset.path = path;
        li.append(a);
        list.append(li);
        content.append(renderOperation(path, method, op, shared));
      }
      toc.append(list);
    }

    const schemas = (spec.components && spec.components.schemas) || {};
    if (Object.keys(schemas).length) {
      const section = el("section", "op");
      section.id = "schemas";
      section.append(el("h3", null, "数据模型"));
      for (const name of Object.keys(schemas).sort()) {
        const details = el("details");
        details.append(el("summary", "schema-name", name));
        details.append(renderSchema({$ref: `#/components/schemas/${name.replace(/~/g, "~0").replace(/\//g, "~1")}`}));
        section.append(details);
      }
      content.append(section);
    }
  }

  function applyFilter() {
    const q = document.getElementById("filter").value.trim().toLowerCase();
    for (const card of document.querySelectorAll(".op[data-path]")) {
      card.hidden = Boolean(q) && !card.dataset.path.toLowerCase().includes(q);
    }
    for (const li of document.querySelectorAll("#toc li")) {
      li.hidden = Boolean(q) && !li.dataset.path.toLowerCase().includes(q);
    }
  }

  async function start() {
    document.getElementById("filter").addEventListener("input", applyFilter);
    try {
      const res = await fetch("/openapi.json", {headers: {Accept: "application/json"}});
      if (!res.ok) throw new Error(`/openapi.json 返回 ${res.status}`);
      spec = await res.json();
      render();
    } catch (err) {
      const content = document.getElementById("content");
      content.replaceChildren(el("div", "error", `无法读取接口文档：${err.message || err}`));
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
