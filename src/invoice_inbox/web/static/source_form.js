// The source form's small helpers (served from the app itself: the CSP allows only its own
// scripts). Everything works without them; they save typing:
// - the port's hint follows the security choice (an empty port means the usual one, and the
//   server fills it in); a port someone typed that is the usual one of the old choice follows
//   the new choice too;
// - a .pem file picked for the CA certificate is read into its text box;
// - passwords typed before "Check connection" stay typed when the form comes back (the server
//   never sends a secret back into the page).
(function () {
  "use strict";

  function portsOf(input) {
    var ports = {};
    for (var name in input.dataset) {
      if (name.indexOf("port") === 0 && name.length > 4) {
        ports[name.slice(4).toLowerCase()] = input.dataset[name];
      }
    }
    return ports;
  }

  document.addEventListener("focusin", function (event) {
    if (event.target.id === "security") {
      event.target.dataset.before = event.target.value;
    }
  });

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.id === "security") {
      var port = document.getElementById("port");
      if (!port) return;
      var ports = portsOf(port);
      var before = ports[target.dataset.before || ""];
      port.placeholder = ports[target.value] || "";
      if (port.value && port.value === before) port.value = "";
      target.dataset.before = target.value;
    } else if (target.type === "file" && target.dataset.fills && target.files.length) {
      var box = document.getElementById(target.dataset.fills);
      var file = target.files[0];
      if (!box || file.size > 65536) return;
      file.text().then(function (text) { box.value = text; });
    }
  });

  var kept = {};
  document.addEventListener("htmx:beforeSwap", function (event) {
    kept = {};
    var form = document.getElementById("source-form");
    if (!form || event.detail.target !== form) return;
    form.querySelectorAll("input[type=password]").forEach(function (input) {
      if (input.value) kept[input.id] = input.value;
    });
  });
  document.addEventListener("htmx:afterSwap", function () {
    for (var id in kept) {
      var input = document.getElementById(id);
      if (input && input.type === "password" && !input.value) input.value = kept[id];
    }
    kept = {};
  });
})();
