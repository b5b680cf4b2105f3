// The sliders both playgrounds share: each shows its value beside it (0 temperature is greedy,
// 0 top-k and top-p 1 are off).
function showSliders() {
  const k = Number($("top-k").value), p = Number($("top-p").value), t = Number($("temperature").value);
  $("temperature-value").textContent = t === 0 ? "0 (greedy)" : t.toFixed(2);
  $("top-k-value").textContent = k === 0 ? "off" : String(k);
  $("top-p-value").textContent = p >= 1 ? "off" : p.toFixed(2);
  $("length-value").textContent = Number($("length").value).toLocaleString();
}
for (const id of ["temperature", "top-k", "top-p", "length"]) $(id).addEventListener("input", showSliders);

// While a sample is generated Generate is off and Stop on; after, the other way round.
function setGenerating(busy) {
  $("generate-button").disabled = busy;
  $("stop-button").disabled = !busy;
}
