// Chunked media upload, Twitter's protocol at POST /api/v1/media/upload: INIT, APPEND the file in
// segments, FINALIZE, then STATUS until processing is done. XHR (not fetch) for upload progress; an
// AbortSignal cancels at any step (the server drops unfinished uploads after their time-to-live).

import { api, token } from '../api.js';

const ENDPOINT = '/api/v1/media/upload';
export const SEGMENT_BYTES = 4 * 1024 * 1024; // below the server's 5 MB per APPEND

export const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/webp'];
export const GIF_TYPE = 'image/gif';
export const VIDEO_TYPES = ['video/mp4', 'video/quicktime'];

export function mediaKind(file) {
  if (IMAGE_TYPES.includes(file.type)) return 'image';
  if (file.type === GIF_TYPE) return 'gif';
  if (VIDEO_TYPES.includes(file.type)) return 'video';
  return null;
}

const CATEGORY = { image: 'tweet_image', gif: 'tweet_gif', video: 'tweet_video' };

function abortError() {
  return new DOMException('The upload was cancelled.', 'AbortError');
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(abortError());
    }, { once: true });
  });
}

/** One APPEND, reporting bytes sent so far within the segment. */
function appendSegment(mediaId, index, blob, { signal, onBytes }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', ENDPOINT);
    xhr.setRequestHeader('Authorization', `Bearer ${token()}`);
    xhr.upload.addEventListener('progress', (event) => onBytes(event.loaded));
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve();
      else {
        let message = `Upload failed (${xhr.status})`;
        try {
          message = JSON.parse(xhr.responseText).error || message;
        } catch {
          // keep the status line
        }
        reject(new Error(message));
      }
    });
    xhr.addEventListener('error', () => reject(new Error('The upload was interrupted: check the connection.')));
    xhr.addEventListener('abort', () => reject(abortError()));
    signal?.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('command', 'APPEND');
    form.append('media_id', mediaId);
    form.append('segment_index', String(index));
    form.append('media', blob, 'segment');
    xhr.send(form);
  });
}

/**
 * Upload `file`; resolves with the media id once the server has processed it.
 * `onProgress({ phase: 'uploading' | 'processing', percent })`.
 */
export async function uploadChunked(file, { signal, onProgress = () => {} } = {}) {
  const kind = mediaKind(file);
  if (!kind) throw new Error(`${file.name}: send JPEG, PNG, WebP, GIF, MP4 or MOV.`);
  const command = (form) => api(ENDPOINT, { method: 'POST', form, signal });
  const init = await command({ command: 'INIT', media_type: file.type, total_bytes: String(file.size), media_category: CATEGORY[kind] });
  const mediaId = init.media_id_string;
  let sent = 0;
  for (let index = 0; sent < file.size; index += 1) {
    const blob = file.slice(sent, sent + SEGMENT_BYTES);
    const before = sent;
    await appendSegment(mediaId, index, blob, {
      signal,
      onBytes: (loaded) => onProgress({ phase: 'uploading', percent: Math.min(100, (100 * (before + Math.min(loaded, blob.size))) / file.size) }),
    });
    sent += blob.size;
  }
  onProgress({ phase: 'uploading', percent: 100 });
  let info = (await command({ command: 'FINALIZE', media_id: mediaId })).processing_info;
  while (info && info.state !== 'succeeded') {
    if (info.state === 'failed') throw new Error(info.error?.message || 'The server could not process this file.');
    onProgress({ phase: 'processing', percent: info.progress_percent || 0 });
    await sleep(1000 * Math.min(Math.max(info.check_after_secs || 1, 0.5), 5), signal);
    info = (await api(ENDPOINT, { query: { command: 'STATUS', media_id: mediaId }, signal })).processing_info;
  }
  onProgress({ phase: 'processing', percent: 100 });
  return mediaId;
}
