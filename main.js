// Starts the page's wasm; if the browser cannot run it, says so instead of leaving a blank page.
import init from "./pkg/web.js";

const boot = document.getElementById("boot");
init()
  .then(() => boot && boot.remove())
  .catch((err) => {
    if (!boot) return;
    boot.className = "error";
    boot.textContent = `The detector could not start in this browser (${err}). It needs WebAssembly, which every current browser has.`;
  });

// Offline use after the first visit; a page served without a service worker still works.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("sw.js").catch(() => {});
}
