// charrnn's network in plain JavaScript: the weights decoded from the page, one step of every
// layer per character (in float64, from the float32 / float16 / int8 weights), and sampling
// (greedy, temperature, top-k, top-p) from a seeded generator. The arithmetic is that of
// charrnn/export/weights.py's layout, PyTorch's conventions (a GRU's candidate gate scales
// W_hn h + b_hn by r).
"use strict";

const CharRNN = (() => {
  function bytesOf(base64) {
    const raw = atob(base64), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function halfToFloat(h) {
    const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
    if (exponent === 0) return sign * fraction * 2 ** -24;
    if (exponent === 31) return fraction ? NaN : sign * Infinity;
    return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }

  // One tensor of the page: {dtype: "fp32" | "fp16" | "int8", shape, data, scale (int8: one
  // float32 per row)} → a Float64Array of its values, row-major.
  function decode(tensor) {
    const bytes = bytesOf(tensor.data), n = tensor.shape.reduce((a, b) => a * b, 1);
    const out = new Float64Array(n), view = new DataView(bytes.buffer);
    if (tensor.dtype === "fp32") {
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    } else if (tensor.dtype === "fp16") {
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
    } else if (tensor.dtype === "int8") {
      const scales = new DataView(bytesOf(tensor.scale).buffer), cols = tensor.shape[tensor.shape.length - 1];
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i) * scales.getFloat32(4 * Math.floor(i / cols), true);
    } else {
      throw new Error(`unknown weight type ${tensor.dtype}`);
    }
    return out;
  }

  // out (N) = W (N × K, row-major) x (K) [+ b]
  function matvec(w, x, out, b) {
    const n = out.length, k = x.length;
    for (let i = 0; i < n; i++) {
      let sum = b ? b[i] : 0;
      const row = i * k;
      for (let j = 0; j < k; j++) sum += w[row + j] * x[j];
      out[i] = sum;
    }
    return out;
  }

  const sigmoid = (x) => 1 / (1 + Math.exp(-x));

  // c ← σ(f) c + σ(i) tanh(g), h ← σ(o) tanh(c); gates (4H) in PyTorch's order i, f, g, o
  function lstmUpdate(gates, h, c) {
    const n = h.length;
    for (let j = 0; j < n; j++) {
      c[j] = sigmoid(gates[n + j]) * c[j] + sigmoid(gates[j]) * Math.tanh(gates[2 * n + j]);
      h[j] = sigmoid(gates[3 * n + j]) * Math.tanh(c[j]);
    }
  }

  class Network {
    constructor(model) {
      const cfg = model.config, w = {};
      for (const [name, tensor] of Object.entries(model.weights)) w[name] = decode(tensor);
      this.cell = cfg.cell;
      this.hidden = cfg.hidden_size;
      this.layers = cfg.num_layers;
      this.embed = cfg.embed_size;
      this.vocab = model.vocabulary;
      this.index = new Map(this.vocab.map((c, i) => [c, i]));
      this.w = w;
      const gates = { lstm: 4, gru: 3, rnn: 1, mrnn: 1, mlstm: 4 }[cfg.cell];
      const factors = cfg.factors || cfg.hidden_size;
      this.buffers = Array.from({ length: this.layers }, () => ({
        a: new Float64Array(gates * this.hidden), b: new Float64Array(gates * this.hidden),
        f: new Float64Array(factors), g: new Float64Array(factors),
      }));
      this.logits = new Float64Array(this.vocab.length);
      this.reset();
    }

    reset() {
      this.h = Array.from({ length: this.layers }, () => new Float64Array(this.hidden));
      this.c = Array.from({ length: this.layers }, () => new Float64Array(this.hidden));
    }

    // The logits of the character after `id`, the state carried.
    step(id) {
      const w = this.w, H = this.hidden;
      let x = w.embedding.subarray(id * this.embed, (id + 1) * this.embed);
      for (let k = 0; k < this.layers; k++) {
        const p = (name) => w[`layers.${k}.${name}`], h = this.h[k], c = this.c[k], buf = this.buffers[k];
        if (this.cell === "lstm" || this.cell === "rnn") {
          const pre = matvec(p("w_ih"), x, buf.a, p("b_ih")), rec = matvec(p("w_hh"), h, buf.b, p("b_hh"));
          for (let j = 0; j < pre.length; j++) pre[j] += rec[j];
          if (this.cell === "rnn") for (let j = 0; j < H; j++) h[j] = Math.tanh(pre[j]);
          else lstmUpdate(pre, h, c);
        } else if (this.cell === "gru") {
          const gi = matvec(p("w_ih"), x, buf.a, p("b_ih")), gh = matvec(p("w_hh"), h, buf.b, p("b_hh"));
          for (let j = 0; j < H; j++) {
            const r = sigmoid(gi[j] + gh[j]), z = sigmoid(gi[H + j] + gh[H + j]);
            const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
            h[j] = n + z * (h[j] - n);
          }
        } else if (this.cell === "mrnn") {
          const f = matvec(p("w_fx"), x, buf.f), fh = matvec(p("w_fh"), h, buf.g);
          for (let j = 0; j < f.length; j++) f[j] *= fh[j];
          const pre = matvec(p("w_hx"), x, buf.a, p("bias")), rec = matvec(p("w_hf"), f, buf.b);
          for (let j = 0; j < H; j++) h[j] = Math.tanh(pre[j] + rec[j]);
        } else {  // mlstm
          const m = matvec(p("w_mx"), x, buf.f), mh = matvec(p("w_mh"), h, buf.g);
          for (let j = 0; j < m.length; j++) m[j] *= mh[j];
          const gates = matvec(p("w_x"), x, buf.a, p("bias")), rec = matvec(p("w_m"), m, buf.b);
          for (let j = 0; j < gates.length; j++) gates[j] += rec[j];
          lstmUpdate(gates, h, c);
        }
        x = h;
      }
      return matvec(w["head.weight"], x, this.logits, w["head.bias"]);
    }
  }

  // A seeded generator of floats in [0, 1): splitmix64 on BigInt (seeds up to 2^53 exactly).
  function generator(seed) {
    let state = BigInt.asUintN(64, BigInt(seed));
    const mask = (1n << 64n) - 1n;
    return () => {
      state = (state + 0x9e3779b97f4a7c15n) & mask;
      let z = state;
      z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask;
      z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask;
      z ^= z >> 31n;
      return Number(z >> 11n) / 2 ** 53;
    };
  }

  function argmax(values) {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
    return best;
  }

  // The next id from logits: greedy at temperature 0, else drawn from softmax(logits / T)
  // restricted to the top k and to the smallest set of mass top-p (as charrnn sample does).
  function choose(logits, { temperature, topK, topP }, random) {
    if (temperature === 0) return argmax(logits);
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
    const scaled = order.map((i) => logits[i] / temperature);
    let keep = order.length;
    if (topK && topK < keep) {
      const kth = scaled[topK - 1];
      keep = topK;
      while (keep < scaled.length && scaled[keep] >= kth) keep++;  // ties with the k-th stay
    }
    const top = scaled[0], weights = scaled.slice(0, keep).map((v) => Math.exp(v - top));
    if (topP && topP < 1) {
      const total = weights.reduce((a, b) => a + b, 0);
      let before = 0, n = 0;
      while (n < keep && before / total < topP) before += weights[n++];
      keep = Math.max(n, 1);
    }
    const total = weights.slice(0, keep).reduce((a, b) => a + b, 0);
    let u = random() * total;
    for (let n = 0; n < keep; n++) {
      u -= weights[n];
      if (u < 0) return order[n];
    }
    return order[keep - 1];
  }

  function randomSeed() {
    const words = crypto.getRandomValues(new Uint32Array(2));
    return (words[0] >>> 11) * 2 ** 32 + words[1];  // under 2^53
  }

  // Generate `length` characters after `prime` (empty: after the start of a document or line);
  // onText(piece) sees them as they come; an aborted `signal` ends the sample early.
  async function sample(network, model, options = {}) {
    const settings = {
      prime: options.prime ?? "", length: options.length ?? 500, temperature: options.temperature ?? 0.8,
      topK: options.topK ?? null, topP: options.topP ?? null,
      seed: options.seed ?? randomSeed(),
    };
    if (!(Number.isInteger(settings.length) && settings.length >= 0)) throw new Error("length must be a whole number >= 0");
    if (!(settings.temperature >= 0 && Number.isFinite(settings.temperature))) throw new Error("temperature must be >= 0 (0 = greedy)");
    if (settings.topK !== null && !(Number.isInteger(settings.topK) && settings.topK >= 1)) throw new Error("topK must be a whole number >= 1");
    if (settings.topP !== null && !(settings.topP > 0 && settings.topP <= 1)) throw new Error("topP must be in (0, 1]");
    if (!(Number.isSafeInteger(settings.seed) && settings.seed >= 0)) throw new Error("seed must be a whole number from 0 to 2^53 − 1");
    const prime = [...(settings.prime || model.line_start)];
    const unknown = [...new Set(prime.filter((c) => !network.index.has(c)))];
    if (unknown.length) throw new Error(`the prime has ${unknown.length} character(s) the model does not know: ${JSON.stringify(unknown.join(""))}`);
    network.reset();
    let logits;
    for (const c of prime) logits = network.step(network.index.get(c));
    const random = generator(settings.seed), out = [];
    let piece = "", lastYield = performance.now();
    for (let n = 0; n < settings.length; n++) {
      if (options.signal?.aborted) break;
      const id = choose(logits, settings, random);
      out.push(network.vocab[id]);
      piece += network.vocab[id];
      logits = network.step(id);
      if (performance.now() - lastYield > 30) {  // let the page draw, and the Stop button work
        options.onText?.(piece);
        piece = "";
        await new Promise((resolve) => setTimeout(resolve, 0));
        lastYield = performance.now();
      }
    }
    if (piece) options.onText?.(piece);
    return out.join("");
  }

  return { Network, sample, decode };
})();
