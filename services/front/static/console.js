// nasvyazi console: progressive enhancement only. Every page works without
// this file: it refreshes the audience count as boxes are ticked and the
// progress of a running campaign every ten seconds. Same origin only.
(function () {
  "use strict";
  function fragment(url, done) {
    var xhr = new XMLHttpRequest();
    xhr.open("GET", url);
    xhr.onload = function () { if (xhr.status === 200) { done(xhr.responseText); } };
    xhr.send();
  }
  function parse(html) {
    var t = document.createElement("template");
    t.innerHTML = html.trim();
    return t.content.firstElementChild;
  }
  // The audience count: ask again after every change.
  var form = document.querySelector("form[data-count]");
  if (form) {
    var timer = null;
    form.addEventListener("change", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var params = [];
        form.querySelectorAll("input[type=checkbox]:checked").forEach(function (box) {
          params.push(encodeURIComponent(box.name) + "=" + encodeURIComponent(box.value));
        });
        fragment(form.getAttribute("data-count") + "?" + params.join("&"), function (html) {
          var fresh = parse(html);
          var old = document.getElementById("audience-count");
          if (fresh && old) { old.replaceWith(fresh); }
        });
      }, 250);
    });
  }
  // Campaign progress: refresh while deliveries are in flight.
  var progress = document.querySelector("#progress[data-refresh]");
  if (progress) {
    var refresh = function () {
      var el = document.getElementById("progress");
      var queued = el && el.querySelector("[data-count=queued]");
      if (!el || !queued || queued.textContent.trim() === "0") { return; }
      fragment(el.getAttribute("data-refresh"), function (html) {
        var fresh = parse(html);
        if (fresh) { el.replaceWith(fresh); }
      });
    };
    setInterval(refresh, 10000);
  }
})();
