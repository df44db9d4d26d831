/* longtail in-app messages: fetch the contact's pending messages and show them as dismissible banners.
 *
 * Embed (the product's backend fills in the contact id and its token):
 *   <script src="https://LONGTAIL/inapp/v1/longtail.js" async
 *           data-key="pk_..." data-contact="CONTACT_ID" data-token="CONTACT_TOKEN"></script>
 * Optional: data-target="#element-id" (default: a container at the top of <body>).
 *
 * Every text goes through textContent (never parsed as HTML), so a message can never inject markup; a CTA link
 * is only rendered for an http(s) URL. Reports viewed when shown, clicked on the CTA, dismissed on the x.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var base = new URL(script.src).origin + "/inapp/v1";
  var key = script.getAttribute("data-key") || "";
  var contact = script.getAttribute("data-contact") || "";
  var token = script.getAttribute("data-token") || "";
  var targetSelector = script.getAttribute("data-target");

  function headers() {
    return { "X-Longtail-Key": key, "X-Longtail-Contact-Token": token };
  }

  function report(id, action) {
    var url = base + "/messages/" + encodeURIComponent(id) + "/" + action +
      "?contact_id=" + encodeURIComponent(contact);
    return fetch(url, { method: "POST", headers: headers(), keepalive: true, credentials: "omit" })
      .catch(function () { /* reporting is best effort: the banner must keep working offline */ });
  }

  function container() {
    var found = targetSelector ? document.querySelector(targetSelector) : null;
    if (found) { return found; }
    var box = document.createElement("div");
    box.setAttribute("data-longtail-inapp", "");
    document.body.insertBefore(box, document.body.firstChild);
    return box;
  }

  function safeUrl(value) {
    try {
      var url = new URL(value);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch (e) {
      return null;
    }
  }

  function banner(message) {
    var box = document.createElement("div");
    box.setAttribute("role", "status");
    box.className = "longtail-inapp-banner";
    box.style.cssText = "display:flex;gap:12px;align-items:center;padding:10px 14px;margin:8px;" +
      "border:1px solid #c9d3e0;border-radius:6px;background:#f5f8fc;font:14px/1.4 sans-serif;color:#1b2430";
    var text = document.createElement("div");
    text.style.flex = "1";
    var title = document.createElement("strong");
    title.textContent = message.title;
    var body = document.createElement("span");
    body.textContent = " " + message.body;
    text.appendChild(title);
    text.appendChild(body);
    box.appendChild(text);
    var href = message.cta_url ? safeUrl(message.cta_url) : null;
    if (href) {
      var link = document.createElement("a");
      link.href = href;
      link.rel = "noopener";
      link.textContent = message.cta_label || "Open";
      link.addEventListener("click", function () { report(message.id, "clicked"); });
      box.appendChild(link);
    }
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "\u00d7";
    close.style.cssText = "border:0;background:none;font-size:18px;cursor:pointer";
    close.addEventListener("click", function () {
      box.remove();
      report(message.id, "dismissed");
    });
    box.appendChild(close);
    return box;
  }

  function refresh() {
    var url = base + "/messages?contact_id=" + encodeURIComponent(contact);
    return fetch(url, { headers: headers(), credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : { messages: [] }; })
      .then(function (data) {
        var target = container();
        (data.messages || []).forEach(function (message) {
          target.appendChild(banner(message));
          report(message.id, "viewed");
        });
      });
  }

  window.Longtail = { refresh: refresh };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", refresh);
  } else {
    refresh();
  }
})();
