// Zoom and rotate a material image in place (no library; served by the hub).
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-tool]");
  if (!button) return;
  var figure = button.closest("figure.material");
  var img = figure && figure.querySelector("img");
  if (!img) return;
  var zoom = parseFloat(img.dataset.zoom || "1");
  var turn = parseInt(img.dataset.turn || "0", 10);
  var tool = button.dataset.tool;
  if (tool === "zoom-in") zoom = Math.min(zoom * 1.5, 6);
  if (tool === "zoom-out") zoom = Math.max(zoom / 1.5, 0.5);
  if (tool === "rotate") turn = (turn + 90) % 360;
  img.dataset.zoom = String(zoom);
  img.dataset.turn = String(turn);
  img.style.transform = "scale(" + zoom + ") rotate(" + turn + "deg)";
});
