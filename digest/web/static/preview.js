// The live preview: reload when the server says the preview was rendered again.
(function () {
  const shown = document.currentScript.dataset.version;
  setInterval(async function () {
    try {
      const response = await fetch("/preview/version", { cache: "no-store" });
      if (response.ok && (await response.text()) !== shown) location.reload();
    } catch (e) {}
  }, 1000);
})();
