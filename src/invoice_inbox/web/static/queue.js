// The documents queue: the box in the table's head ticks or clears every document's box.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var all = document.getElementById("tick-all");
  if (!all) return;
  var boxes = document.querySelectorAll('input[type=checkbox][name=ids][form=bulk]');
  all.addEventListener("change", function () {
    boxes.forEach(function (box) { box.checked = all.checked; });
  });
});
