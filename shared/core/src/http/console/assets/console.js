/* Trove console. Loaded with `defer` after sha256.js (which defines the global `sha256`).
   Served under a strict CSP: no eval, no inline handlers, no inline styles. Every feature
   below looks for its elements first and does nothing on pages without them. */
(function () {
  'use strict';

  const MiB = 1024 * 1024;

  // ---- small helpers ---------------------------------------------------------------------

  const byId = (id) => document.getElementById(id);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** `1.5 MB`, SI units like the server's `human_bytes`. */
  function humanBytes(n) {
    const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
    let value = n;
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : '';
  }

  /** An error with words fit to show the person. */
  class ShownError extends Error {
    constructor(message, status) {
      super(message);
      this.name = 'ShownError';
      this.status = status || 0;
    }
  }

  function signedOut() {
    location.assign('/console/sign-in');
    return new ShownError('your session has ended: sign in again', 401);
  }

  /**
   * A call to the console's JSON bridge: `/console/api` + the API path. Sends the CSRF
   * token; resolves with the parsed JSON answer (or null); rejects with a ShownError
   * carrying the problem's `detail`. A 401 sends the person to the sign-in page.
   */
  async function bridge(method, path, body) {
    const headers = { Accept: 'application/json', 'X-CSRF-Token': csrfToken() };
    const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch('/console/api' + path, init);
    } catch (_) {
      throw new ShownError('network error: the console could not be reached', 0);
    }
    if (response.status === 401) throw signedOut();
    let data = null;
    try {
      const text = await response.text();
      data = text ? JSON.parse(text) : null;
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const detail = data && (data.detail || data.title);
      throw new ShownError(detail || `the server answered ${response.status}`, response.status);
    }
    return data;
  }

  // ---- 2. copy buttons -------------------------------------------------------------------

  function initCopyButtons() {
    document.querySelectorAll('button.copy[data-copy]').forEach((button) => {
      const label = button.textContent;
      let timer = 0;
      const flash = (text) => {
        clearTimeout(timer);
        button.textContent = text;
        timer = setTimeout(() => {
          button.textContent = label;
        }, 1500);
      };
      const selectTarget = () => {
        const id = button.dataset.copyTarget;
        const target = id ? byId(id) : null;
        if (!target) return false;
        const selection = window.getSelection();
        if (!selection) return false;
        const range = document.createRange();
        range.selectNodeContents(target);
        selection.removeAllRanges();
        selection.addRange(range);
        return true;
      };
      button.addEventListener('click', async () => {
        const text = button.dataset.copy || '';
        try {
          if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
          await navigator.clipboard.writeText(text);
          flash('Copied');
        } catch (_) {
          if (!selectTarget()) flash('Copy failed');
        }
      });
    });
  }

  // ---- 4. confirmations ------------------------------------------------------------------

  function initConfirmations() {
    document.addEventListener('submit', (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) return;
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // ---- 5. package filter -----------------------------------------------------------------

  function initPackageFilter() {
    const input = byId('package-filter');
    const table = byId('packages');
    if (!input || !table) return;
    const noMatch = byId('no-match');
    const filter = () => {
      const needle = input.value.trim().toLowerCase();
      let shown = 0;
      table.querySelectorAll('tbody tr').forEach((row) => {
        const cell = row.cells[0];
        const text = cell ? cell.textContent.toLowerCase() : '';
        const match = needle === '' || text.includes(needle);
        row.hidden = !match;
        if (match) shown += 1;
      });
      if (noMatch) noMatch.hidden = shown > 0;
    };
    input.addEventListener('input', filter);
  }

  // ---- 3. upload -------------------------------------------------------------------------

  const HASH_SLICE = 8 * MiB;
  const MULTIPART_ABOVE = 64 * MiB;
  const FIRST_PART_SIZE = 16 * MiB;
  const MAX_PARTS = 10000;
  const URL_BATCH = 100;
  const PARALLEL_PARTS = 4;
  const RETRIES = 3; // after the first try: waits of 1 s, 2 s, 4 s
  const POLL_EVERY = 500;
  const POLL_FOR = 10 * 60 * 1000;
  const RATE_WINDOW = 2000;
  const NAME_PATTERN = /^(.+?)-(\d[\w.+-]*?)(\.tar\.gz|\.tgz|\.zip|\.whl|\.jar|\.bin|\.crate)?$/;

  /** null for a single PUT, else the part size and count. */
  function partPlan(size) {
    if (size <= MULTIPART_ABOVE) return null;
    let partSize = FIRST_PART_SIZE;
    while (Math.ceil(size / partSize) > MAX_PARTS) partSize *= 2;
    return { partSize, count: Math.ceil(size / partSize) };
  }

  /**
   * Streams the file through SHA-256 in 8 MiB slices (the next slice is read while the
   * current one is hashed); with a plan, a second hasher per part, reset at each part
   * boundary. Resolves with `{ sha256, parts: [hex…] }`.
   */
  async function hashFile(file, plan, onProgress) {
    if (typeof sha256 === 'undefined' || typeof sha256.create !== 'function') {
      throw new ShownError('the hashing script did not load: reload the page');
    }
    const size = file.size;
    const whole = sha256.create();
    const partHashes = [];
    let part = plan ? sha256.create() : null;
    let partEnd = plan ? Math.min(plan.partSize, size) : size;

    // Slice boundaries never cross a part boundary.
    const bounds = [];
    for (let offset = 0; offset < size; ) {
      let end = Math.min(offset + HASH_SLICE, size);
      if (plan) end = Math.min(end, (Math.floor(offset / plan.partSize) + 1) * plan.partSize);
      bounds.push([offset, end]);
      offset = end;
    }
    const read = (i) => file.slice(bounds[i][0], bounds[i][1]).arrayBuffer();

    onProgress(0);
    let next = bounds.length > 0 ? read(0) : null;
    for (let i = 0; i < bounds.length; i += 1) {
      let buffer;
      try {
        buffer = await next;
      } catch (_) {
        throw new ShownError('the file could not be read (was it changed or moved?)');
      }
      next = i + 1 < bounds.length ? read(i + 1) : null;
      if (next) next.catch(() => {}); // reported when awaited
      const bytes = new Uint8Array(buffer);
      whole.update(bytes);
      if (part) {
        part.update(bytes);
        if (bounds[i][1] === partEnd) {
          partHashes.push(part.hex());
          part = sha256.create();
          partEnd = Math.min(partEnd + plan.partSize, size);
        }
      }
      onProgress(Math.floor((bounds[i][1] / size) * 100));
    }
    onProgress(100);
    return { sha256: whole.hex(), parts: partHashes };
  }

  /**
   * Sends a Blob to a presigned URL with exactly the headers the API gave: no CSRF header,
   * no cookies (it may be another origin). Resolves with the HTTP status (0 never: a
   * network failure rejects).
   */
  function sendBlob(target, blob, onProgress, control) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open(target.method || 'PUT', target.url, true);
      xhr.withCredentials = false;
      const headers = target.headers || {};
      Object.keys(headers).forEach((name) => {
        // The browser sets these itself and refuses (noisily) to be told.
        if (['content-length', 'host'].includes(name.toLowerCase())) return;
        try {
          xhr.setRequestHeader(name, String(headers[name]));
        } catch (_) {
          // A header the browser sets itself (Content-Length, Host): it is sent anyway.
        }
      });
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        control.xhrs.delete(xhr);
        resolve(xhr.status);
      };
      xhr.onerror = () => {
        control.xhrs.delete(xhr);
        reject(new ShownError('network error while sending to storage'));
      };
      xhr.ontimeout = xhr.onerror;
      xhr.onabort = () => {
        control.xhrs.delete(xhr);
        reject(new ShownError('the upload was stopped'));
      };
      control.xhrs.add(xhr);
      xhr.send(blob);
    });
  }

  /** Counts bytes sent (net, for the bar) and bytes moved (for the 2 s rate window). */
  class Meter {
    constructor(size, show) {
      this.size = size;
      this.show = show;
      this.loaded = new Map(); // part number → bytes sent of its current try
      this.total = 0; // sum of `loaded`
      this.moved = 0; // only grows, retries included
      this.samples = [];
      this.started = performance.now();
    }

    /** All bytes are sent: the average rate of the whole transfer, which a fast one (on a
     * local network) would otherwise never show. */
    finish() {
      const elapsed = Math.max(performance.now() - this.started, 1);
      this.show(100, `${humanBytes((this.size * 1000) / elapsed)}/s · 100 %`);
    }

    set(key, bytes) {
      const before = this.loaded.get(key) || 0;
      if (bytes > before) this.moved += bytes - before;
      this.total += bytes - before;
      this.loaded.set(key, bytes);
      const now = performance.now();
      this.samples.push([now, this.moved]);
      while (this.samples.length > 2 && now - this.samples[1][0] >= RATE_WINDOW) this.samples.shift();
      this.render();
    }

    sent() {
      return Math.min(this.total, this.size);
    }

    render() {
      const percent = this.size > 0 ? Math.floor((this.sent() / this.size) * 100) : 100;
      let rate = '';
      const first = this.samples[0];
      const last = this.samples[this.samples.length - 1];
      if (first && last && last[0] - first[0] >= 250) {
        rate = `${humanBytes(((last[1] - first[1]) * 1000) / (last[0] - first[0]))}/s · `;
      }
      this.show(percent, `${rate}${percent} %`);
    }
  }

  function initUpload() {
    const section = document.querySelector('section#upload[data-repo]');
    if (!section) return;
    const fileInput = byId('file');
    const dropZone = byId('drop-zone');
    const packageInput = byId('package');
    const versionInput = byId('version');
    const button = byId('upload-button');
    const progress = byId('upload-progress');
    const rateText = byId('upload-rate');
    const status = byId('upload-status');
    const result = byId('upload-result');
    if (!button || !status || !packageInput || !versionInput) return;

    const repo = section.dataset.repo;
    const repoPath = `/v1/repositories/${encodeURIComponent(repo)}/uploads`;
    let chosen = null;
    let busy = false;

    const say = (text) => {
      status.textContent = text;
    };
    const setProgress = (value) => {
      if (progress) progress.value = Math.max(0, Math.min(100, value));
    };
    const setRate = (text) => {
      if (rateText) rateText.textContent = text;
    };

    // -- choosing a file --

    const prefill = (input, value) => {
      // Fill only a field the person left empty (or that still holds our last guess).
      if (input.value.trim() === '' || input.value === input.dataset.prefilled) {
        input.value = value;
        input.dataset.prefilled = value;
      }
    };

    const choose = (file) => {
      chosen = file || null;
      if (!chosen) return;
      const match = NAME_PATTERN.exec(chosen.name);
      if (match) {
        prefill(packageInput, match[1]);
        prefill(versionInput, match[2]);
      }
      if (result) result.hidden = true;
      say(`chosen: ${chosen.name} (${humanBytes(chosen.size)})`);
    };

    if (fileInput) {
      fileInput.addEventListener('change', () => {
        if (busy) return;
        const file = fileInput.files && fileInput.files[0];
        if (file) choose(file);
        else chosen = null;
      });
    }

    if (dropZone) {
      const openPicker = () => {
        if (!busy && fileInput) fileInput.click();
      };
      const hasFiles = (event) =>
        !!event.dataTransfer && Array.from(event.dataTransfer.types || []).includes('Files');
      dropZone.addEventListener('click', openPicker);
      dropZone.addEventListener('keydown', (event) => {
        if (event.key === 'Enter' || event.key === ' ' || event.key === 'Spacebar') {
          event.preventDefault();
          openPicker();
        }
      });
      ['dragenter', 'dragover'].forEach((type) =>
        dropZone.addEventListener(type, (event) => {
          if (!hasFiles(event)) return;
          event.preventDefault();
          event.dataTransfer.dropEffect = busy ? 'none' : 'copy';
          if (!busy) dropZone.classList.add('dragover');
        }),
      );
      ['dragleave', 'dragend'].forEach((type) =>
        dropZone.addEventListener(type, (event) => {
          if (event.relatedTarget && dropZone.contains(event.relatedTarget)) return;
          dropZone.classList.remove('dragover');
        }),
      );
      dropZone.addEventListener('drop', (event) => {
        event.preventDefault();
        dropZone.classList.remove('dragover');
        if (busy || !event.dataTransfer) return;
        const files = event.dataTransfer.files;
        if (!files || files.length === 0) return;
        if (fileInput) {
          try {
            fileInput.files = files; // keeps the native input showing the same file
          } catch (_) {
            // older browsers: the chosen file is kept here only
          }
        }
        choose(files[0]);
      });
      // A file dropped beside the zone must not make the browser leave the page.
      window.addEventListener('dragover', (event) => {
        if (hasFiles(event) && !dropZone.contains(event.target) && event.target !== fileInput) {
          event.preventDefault();
          event.dataTransfer.dropEffect = 'none';
        }
      });
      window.addEventListener('drop', (event) => {
        if (hasFiles(event) && !dropZone.contains(event.target) && event.target !== fileInput) {
          event.preventDefault();
        }
      });
    }

    window.addEventListener('beforeunload', (event) => {
      if (busy) {
        event.preventDefault();
        event.returnValue = '';
      }
    });

    // -- sending --

    /**
     * One part (or the whole file) to storage, tried up to 1 + RETRIES times with waits of
     * 1 s, 2 s, 4 s; a 403 (an expired URL) asks `target(true)` for a fresh one.
     */
    async function sendWithRetries(label, key, blob, target, meter, control) {
      let refresh = false;
      for (let attempt = 0; ; attempt += 1) {
        if (control.failed) throw control.failed;
        const where = await target(refresh);
        refresh = false;
        let code = 0;
        let error = null;
        try {
          code = await sendBlob(where, blob, (loaded) => meter.set(key, loaded), control);
        } catch (e) {
          error = e;
        }
        if (control.failed) throw control.failed;
        if (code >= 200 && code < 300) {
          meter.set(key, blob.size);
          return;
        }
        meter.set(key, 0);
        if (attempt >= RETRIES) {
          throw new ShownError(
            error ? `${label}: ${error.message}` : `${label}: storage answered ${code}`,
          );
        }
        if (code === 403) refresh = true;
        await sleep(1000 * 2 ** attempt);
      }
    }

    /** What the API is asked for an upload of this file (its parts, if any, added). */
    const uploadRequest = (file, what, hashed) => ({
      package: what.pkg,
      version: what.version,
      filename: file.name,
      size: file.size,
      sha256: hashed.sha256,
    });

    async function uploadSingle(file, what, hashed, meter, control) {
      say('uploading…');
      const created = await bridge('POST', repoPath, uploadRequest(file, what, hashed));
      if (!created || !created.upload_id || !created.url) {
        throw new ShownError('the server did not give an upload URL');
      }
      await sendWithRetries('upload', 0, file, async () => created, meter, control);
      return created.upload_id;
    }

    async function uploadParts(file, what, hashed, plan, meter, control) {
      const list = (from, to) => {
        const out = [];
        for (let n = from; n <= to; n += 1) out.push({ number: n, sha256: hashed.parts[n - 1] });
        return out;
      };
      say('uploading…');
      const created = await bridge('POST', repoPath, {
        ...uploadRequest(file, what, hashed),
        part_size: plan.partSize,
        parts: list(1, Math.min(plan.count, URL_BATCH)),
      });
      const multipart = created && created.multipart;
      if (!created || !created.upload_id || !multipart) {
        throw new ShownError('the server did not start a multipart upload');
      }
      if (multipart.part_size && multipart.part_size !== plan.partSize) {
        throw new ShownError(`the server chose parts of ${multipart.part_size} bytes, not ${plan.partSize}`);
      }
      if (multipart.part_count && multipart.part_count !== plan.count) {
        throw new ShownError(`the server expects ${multipart.part_count} parts, not ${plan.count}`);
      }
      const id = encodeURIComponent(created.upload_id);
      const count = plan.count;
      const urls = new Map();
      const done = new Set();
      (multipart.parts || []).forEach((p) => urls.set(p.number, p));

      let fetching = null;
      const stale = (t) => {
        const expires = Date.parse(t.expires_at);
        return Number.isFinite(expires) && expires - Date.now() < 30 * 1000;
      };
      // The URL of part n, asking for up to 100 more (n and the parts after it) when missing.
      const urlFor = async (n, refresh) => {
        if (refresh) urls.delete(n);
        for (;;) {
          const known = urls.get(n);
          if (known && !stale(known)) return known;
          if (known) urls.delete(n);
          let mine = false;
          if (!fetching) {
            mine = true;
            const wanted = [];
            for (let k = n; k <= count && wanted.length < URL_BATCH; k += 1) {
              if (k === n || (!done.has(k) && !urls.has(k))) wanted.push({ number: k, sha256: hashed.parts[k - 1] });
            }
            fetching = bridge('POST', `${repoPath}/${id}/parts`, { parts: wanted })
              .then((answer) => {
                ((answer && answer.parts) || []).forEach((p) => urls.set(p.number, p));
              })
              .finally(() => {
                fetching = null;
              });
          }
          await fetching;
          if (mine && !urls.has(n)) throw new ShownError(`the server gave no URL for part ${n}`);
        }
      };

      let next = 1;
      const worker = async () => {
        while (!control.failed && next <= count) {
          const n = next;
          next += 1;
          const start = (n - 1) * plan.partSize;
          const blob = file.slice(start, Math.min(start + plan.partSize, file.size));
          try {
            await sendWithRetries(`part ${n}`, n, blob, (refresh) => urlFor(n, refresh), meter, control);
            done.add(n);
            urls.delete(n);
          } catch (e) {
            if (!control.failed) {
              control.failed = e;
              control.xhrs.forEach((xhr) => xhr.abort());
            }
          }
        }
      };
      const workers = [];
      for (let i = 0; i < Math.min(PARALLEL_PARTS, count); i += 1) workers.push(worker());
      await Promise.all(workers);
      if (control.failed) throw control.failed;

      await bridge('POST', `${repoPath}/${id}/complete`, {});
      return created.upload_id;
    }

    /** Polls the upload until it is published, rejected or cancelled (or 10 minutes pass). */
    async function awaitOutcome(uploadId, pkg, version) {
      const path = `${repoPath}/${encodeURIComponent(uploadId)}`;
      const until = Date.now() + POLL_FOR;
      let failures = 0;
      say('scanning and validating…');
      while (Date.now() < until) {
        let state;
        try {
          state = await bridge('GET', path);
          failures = 0;
        } catch (e) {
          // A blip while waiting is tolerated; a refusal is not.
          if (e.status === 401 || (e.status >= 400 && e.status < 500) || ++failures >= 5) throw e;
          await sleep(POLL_EVERY * 2);
          continue;
        }
        const s = state && state.status;
        if (s === 'published') {
          say('published');
          if (result) {
            result.href = `/console/r/${encodeURIComponent(repo)}/p/${encodeURIComponent(pkg)}/v/${encodeURIComponent(version)}`;
            result.textContent = `${pkg} ${version}`;
            result.hidden = false;
          }
          return;
        }
        if (s === 'rejected') {
          say(`rejected: ${(state && state.reason) || 'no reason given'}`);
          return;
        }
        if (s === 'cancelled') {
          say('cancelled');
          return;
        }
        say('scanning and validating…');
        await sleep(POLL_EVERY);
      }
      say('still scanning after 10 minutes: look at the package page later');
    }

    async function run() {
      if (busy) return;
      const file = chosen || (fileInput && fileInput.files && fileInput.files[0]) || null;
      const pkg = packageInput.value.trim();
      const version = versionInput.value.trim();
      if (!file) {
        say('Choose a file first.');
        if (dropZone) dropZone.focus();
        return;
      }
      if (!pkg) {
        say('Enter the package name.');
        packageInput.focus();
        return;
      }
      if (!version) {
        say('Enter the version.');
        versionInput.focus();
        return;
      }

      busy = true;
      button.disabled = true;
      if (result) result.hidden = true;
      if (progress) progress.hidden = false;
      setProgress(0);
      setRate('');
      const control = { failed: null, xhrs: new Set() };
      try {
        const what = { pkg, version };
        const plan = partPlan(file.size);
        const hashed = await hashFile(file, plan, (percent) => {
          say(`hashing… ${percent} %`);
          setProgress(percent);
        });

        setProgress(0);
        const meter = new Meter(file.size, (percent, text) => {
          setProgress(percent);
          setRate(text);
        });
        const uploadId = plan
          ? await uploadParts(file, what, hashed, plan, meter, control)
          : await uploadSingle(file, what, hashed, meter, control);
        meter.finish();
        await awaitOutcome(uploadId, pkg, version);
      } catch (e) {
        control.failed = control.failed || e;
        control.xhrs.forEach((xhr) => xhr.abort());
        const message = (e && e.message) || 'unexpected error';
        say(e instanceof ShownError && e.status === 401 ? message : `failed: ${message}`);
      } finally {
        busy = false;
        button.disabled = false;
      }
    }

    button.addEventListener('click', () => {
      run();
    });
  }

  // ---- start -----------------------------------------------------------------------------

  function start() {
    [initCopyButtons, initConfirmations, initPackageFilter, initUpload].forEach((init) => {
      try {
        init();
      } catch (e) {
        // One broken feature must not stop the others.
        if (window.console) console.error(e);
      }
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
