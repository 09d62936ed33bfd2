// OneFact camera scanning: a camera button next to every scan field (inputs marked
// `data-scan`), shown only on devices that report a camera. A decoded code is typed into
// the field and "Enter" is pressed, exactly as a keyboard-wedge scanner does, so the
// page's own handlers (htmx forms, "Enter moves to the next field") run unchanged.
//
// Decoding: the browser's BarcodeDetector where it has one, otherwise the vendored
// zxing-wasm reader (static/vendor/zxing-wasm, loaded only when the camera opens; its
// .wasm comes from our static files, never a CDN).

const config = document.querySelector("script[data-scan-camera]")?.dataset ?? {};
const NATIVE_FORMATS = ["code_128", "ean_13", "upc_a", "qr_code"];
const ZXING_FORMATS = ["Code128", "EAN13", "UPCA", "QRCode"];
const FRAME_GAP_MS = 120;

let hasCamera = null; // Promise<boolean>, asked once per page
let decoderPromise = null; // Promise<(video) => Promise<string|null>>
let dialog = null;
let session = null; // {input, stream, stopped}
let audio = null;

function cameraAvailable() {
  if (hasCamera) return hasCamera;
  const media = navigator.mediaDevices;
  if (!media || !media.enumerateDevices || !media.getUserMedia) {
    hasCamera = Promise.resolve(false); // no camera API (or not a secure context)
  } else {
    hasCamera = media
      .enumerateDevices()
      .then((devices) => devices.some((d) => d.kind === "videoinput"))
      .catch(() => false);
  }
  return hasCamera;
}

async function nativeDecoder() {
  if (!("BarcodeDetector" in window)) return null;
  try {
    const supported = await window.BarcodeDetector.getSupportedFormats();
    const formats = NATIVE_FORMATS.filter((f) => supported.includes(f));
    if (!formats.length) return null;
    const detector = new window.BarcodeDetector({ formats });
    return async (video) => {
      const codes = await detector.detect(video);
      const hit = codes.find((c) => c.rawValue);
      return hit ? hit.rawValue : null;
    };
  } catch {
    return null;
  }
}

async function zxingDecoder() {
  const zxing = await import(new URL(config.zxing, document.baseURI).href);
  const wasmUrl = new URL(config.zxingWasm, document.baseURI).href;
  await zxing.prepareZXingModule({
    overrides: {
      locateFile: (path, prefix) => (path.endsWith(".wasm") ? wasmUrl : prefix + path),
    },
    fireImmediately: true,
  });
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    const width = video.videoWidth;
    const height = video.videoHeight;
    if (!width || !height) return null;
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    context.drawImage(video, 0, 0, width, height);
    const results = await zxing.readBarcodes(context.getImageData(0, 0, width, height), {
      formats: ZXING_FORMATS,
      tryHarder: true,
      maxNumberOfSymbols: 1,
    });
    const hit = results.find((r) => r.isValid && r.text);
    return hit ? hit.text : null;
  };
}

function decoder() {
  if (!decoderPromise) {
    decoderPromise = nativeDecoder()
      .then((native) => native || zxingDecoder())
      .catch((error) => {
        decoderPromise = null; // try again next time the camera opens
        throw error;
      });
  }
  return decoderPromise;
}

function beep() {
  if (navigator.vibrate) navigator.vibrate(80);
  if (!audio) return;
  try {
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 1760;
    gain.gain.value = 0.15;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.12);
  } catch {
    // no sound is not an error: the page moving on is the real feedback
  }
}

// What a keyboard-wedge scanner does: type the code, press Enter.
function typeLikeAScanner(input, text) {
  input.focus();
  input.value = text;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  input.dispatchEvent(new Event("change", { bubbles: true }));
  const enter = { key: "Enter", code: "Enter", keyCode: 13, which: 13, bubbles: true, cancelable: true };
  const notTaken = input.dispatchEvent(new KeyboardEvent("keydown", enter));
  input.dispatchEvent(new KeyboardEvent("keyup", enter));
  if (!notTaken || !input.form) return; // a page handler used the Enter (e.g. next field)
  // Enter in a field submits the form with its default (first) submit button.
  const submitter = Array.from(input.form.elements).find((el) => el.type === "submit");
  if (submitter && submitter.disabled) return;
  input.form.requestSubmit(submitter || undefined);
}

function buildDialog() {
  dialog = document.createElement("dialog");
  dialog.className = "scan-camera-dialog";
  dialog.setAttribute("aria-label", "Scan with the camera");
  dialog.dataset.testid = "scan-camera-dialog";
  dialog.innerHTML =
    '<video playsinline muted autoplay aria-hidden="true"></video>' +
    '<p class="scan-camera-status" role="status"></p>' +
    '<button type="button" class="scan-camera-close" data-testid="scan-camera-close">Close</button>';
  dialog.querySelector(".scan-camera-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", stop);
  document.body.append(dialog);
}

function say(text) {
  dialog.querySelector(".scan-camera-status").textContent = text;
}

function stop() {
  if (!session) return;
  session.stopped = true;
  if (session.stream) session.stream.getTracks().forEach((track) => track.stop());
  dialog.querySelector("video").srcObject = null;
  session = null;
}

async function open(input) {
  if (!dialog) buildDialog();
  stop();
  const current = { input, stream: null, stopped: false };
  session = current;
  if (!audio && window.AudioContext) audio = new AudioContext(); // created on the tap, so it may sound
  say("Starting the camera…");
  dialog.showModal();
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: { ideal: "environment" } },
      audio: false,
    });
  } catch (error) {
    if (current.stopped) return;
    say(
      error && (error.name === "NotAllowedError" || error.name === "SecurityError")
        ? "Camera access is blocked. Allow the camera for this site in the browser settings, or type the code."
        : "The camera could not be started. Type the code or use a scanner.",
    );
    return;
  }
  if (current.stopped) {
    stream.getTracks().forEach((track) => track.stop());
    return;
  }
  current.stream = stream;
  const video = dialog.querySelector("video");
  video.srcObject = stream;
  try {
    await video.play();
  } catch {
    // autoplay with a muted stream is allowed; a failure here shows up as no frames
  }
  let read;
  try {
    read = await decoder();
  } catch {
    if (!current.stopped) say("The barcode reader could not be loaded. Type the code or use a scanner.");
    return;
  }
  say("Point the camera at the barcode.");
  while (!current.stopped) {
    let text = null;
    try {
      if (video.readyState >= 2) text = await read(video);
    } catch {
      text = null; // one bad frame: keep looking
    }
    if (current.stopped) return;
    if (text) {
      dialog.close(); // stops the camera
      beep();
      typeLikeAScanner(input, text.trim());
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, FRAME_GAP_MS));
  }
}

const CAMERA_ICON =
  '<svg aria-hidden="true" viewBox="0 0 24 24" width="22" height="22" fill="none" stroke="currentColor" stroke-width="2">' +
  '<path d="M4 8h3l2-3h6l2 3h3v11H4z"/><circle cx="12" cy="13" r="3.5"/></svg>';

function addButton(input) {
  if (input.dataset.scanCameraReady) return;
  input.dataset.scanCameraReady = "1";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "scan-camera";
  button.dataset.testid = "scan-camera";
  button.title = "Scan with the camera";
  button.setAttribute("aria-label", "Scan with the camera");
  button.innerHTML = CAMERA_ICON;
  button.addEventListener("click", () => open(input));
  input.after(button);
}

async function enhance(root) {
  const inputs = root.querySelectorAll ? root.querySelectorAll("input[data-scan]") : [];
  if (!inputs.length || !(await cameraAvailable())) return;
  inputs.forEach(addButton);
}

// The root says whether a camera was found ("on"/"off"): tests and styles can wait for it.
enhance(document).then(async () => {
  document.documentElement.dataset.scanCamera = (await cameraAvailable()) ? "on" : "off";
});
// htmx swaps in new scan fields (a count sheet after a submit, a receipt panel): give them a button too.
new MutationObserver((mutations) => {
  for (const mutation of mutations) {
    mutation.addedNodes.forEach((node) => {
      if (node.nodeType !== 1) return;
      if (node.matches("input[data-scan]")) enhance(node.parentNode);
      else enhance(node);
    });
  }
}).observe(document.body, { childList: true, subtree: true });
