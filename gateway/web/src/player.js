// Playing in the page: an MP4 by the browser itself (seekable through Range requests), HLS (a
// live preview, or a .ts recording as a playlist of byte ranges) through hls.js, loaded only
// when something plays. Safari plays HLS natively.

let hls = null;

export function stop(video) {
  if (hls) {
    hls.destroy();
    hls = null;
  }
  video.pause();
  video.removeAttribute("src");
  video.load();
}

/** Play `url` in `video`; `isHls` for playlists. Calls onError(text) when it cannot. */
export async function play(video, url, isHls, onError) {
  stop(video);
  if (!isHls) {
    video.src = url;
    video.play().catch(() => {});
    return;
  }
  if (video.canPlayType("application/vnd.apple.mpegurl") && !window.MediaSource) {
    video.src = url;
    video.play().catch(() => {});
    return;
  }
  const { default: Hls } = await import("hls.js");
  if (!Hls.isSupported()) {
    onError("this browser cannot play HLS");
    return;
  }
  const player = new Hls({ workerPath: "/assets/hls.worker.js", enableWorker: true, lowLatencyMode: false });
  hls = player;
  player.on(Hls.Events.ERROR, (_event, data) => {
    if (!data.fatal) return;
    if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
      player.recoverMediaError();
    } else {
      onError(`playback failed: ${data.details}`);
      stop(video);
    }
  });
  player.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
  player.loadSource(url);
  player.attachMedia(video);
}
