/* IKM dashboard: polls the reporting KPI API and draws every chart as inline SVG.
 *
 * Self-contained on purpose: no libraries, no CDN, no fonts from the network (the ministry
 * network may be offline). A section is redrawn only when its data changed, by swapping the
 * finished SVG in one step, so polling never flickers.
 */
(function () {
  'use strict';

  const POLL_MS = 3000;
  const API = 'api/v1/kpis/';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const W = 640; // viewBox width of every chart; the SVG scales to its card

  // Kemendagri province codes (copy of services/registry/reference/provinces.csv).
  const PROVINCES = {
    11: 'Aceh', 12: 'Sumatera Utara', 13: 'Sumatera Barat', 14: 'Riau', 15: 'Jambi',
    16: 'Sumatera Selatan', 17: 'Bengkulu', 18: 'Lampung', 19: 'Kepulauan Bangka Belitung',
    21: 'Kepulauan Riau', 31: 'DKI Jakarta', 32: 'Jawa Barat', 33: 'Jawa Tengah',
    34: 'Daerah Istimewa Yogyakarta', 35: 'Jawa Timur', 36: 'Banten', 51: 'Bali',
    52: 'Nusa Tenggara Barat', 53: 'Nusa Tenggara Timur', 61: 'Kalimantan Barat',
    62: 'Kalimantan Tengah', 63: 'Kalimantan Selatan', 64: 'Kalimantan Timur',
    65: 'Kalimantan Utara', 71: 'Sulawesi Utara', 72: 'Sulawesi Tengah', 73: 'Sulawesi Selatan',
    74: 'Sulawesi Tenggara', 75: 'Gorontalo', 76: 'Sulawesi Barat', 81: 'Maluku',
    82: 'Maluku Utara', 91: 'Papua', 92: 'Papua Barat', 93: 'Papua Selatan', 94: 'Papua Tengah',
    95: 'Papua Pegunungan', 96: 'Papua Barat Daya',
  };
  const PROVINCE_COUNT = Object.keys(PROVINCES).length;
  const SHORT_NAMES = { 19: 'Kep. Bangka Belitung', 34: 'DI Yogyakarta' }; // for chart labels
  const SCHEMES = {
    ISO_9001: 'ISO 9001', ISO_14001: 'ISO 14001', SNI: 'SNI', HALAL: 'Halal', TKDN_IK: 'TKDN-IK',
  };
  const CERT_STATUS = [
    ['active', 'Aktif', 'active'], ['expired', 'Kedaluwarsa', 'expired'],
    ['revoked', 'Dicabut', 'revoked'],
  ];
  // counting unit → [label, English term, noun used after a number]
  const UNITS = {
    agreements: ['Perjanjian kemitraan', 'agreements', 'perjanjian'],
    ikm: ['IKM yang bermitra', 'IKM', 'IKM'],
    partner_firms: ['Perusahaan mitra', 'partner firms', 'perusahaan'],
  };
  const STAGES = [
    ['proposed', 'Diusulkan', 'proposed'], ['mou_signed', 'MoU ditandatangani', 'MoU signed'],
    ['coaching', 'Pembinaan', 'coaching'], ['trial_supply', 'Uji pasok', 'trial supply'],
    ['active_supply', 'Pasok aktif', 'active supply'], ['ended', 'Berakhir', 'ended'],
  ];
  const FUNNEL = [
    ['requested', 'Diajukan', 'stage-requested'], ['approved', 'Disetujui', 'stage-approved'],
    ['completed', 'Selesai', 'stage-completed'],
  ];
  const EXITS = [
    ['rejected', 'Ditolak', 'stage-rejected'], ['suspended', 'Ditangguhkan', 'stage-suspended'],
    ['cancelled', 'Dibatalkan', 'stage-exit-other'], ['withdrawn', 'Mengundurkan diri', 'stage-exit-other'],
  ];
  const BUDGET_STATUS = {
    open: 'dibuka', allocated: 'dialokasikan', postponed: 'ditunda', closed: 'ditutup',
  };
  const MECHANISMS = {
    pusat: 'Pusat', dekonsentrasi: 'Dekonsentrasi', tugas_pembantuan: 'Tugas Pembantuan',
    dak_fisik: 'DAK Fisik',
  };
  const PERIODS = { before: 'Sebelum', after: 'Sesudah' };
  const UNIT_WORDS = { 'tonnes/year': 'ton/tahun', 'IDR/year': 'Rp/tahun', 'units/year': 'unit/tahun' };

  // ---- formatting ------------------------------------------------------------------------
  const nf1 = new Intl.NumberFormat('id-ID', { maximumFractionDigits: 1 });
  const nf0 = new Intl.NumberFormat('id-ID', { maximumFractionDigits: 0 });
  const dateTime = new Intl.DateTimeFormat('id-ID', {
    day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
    timeZone: 'Asia/Jakarta',
  });
  const clock = new Intl.DateTimeFormat('id-ID', {
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });

  const nf2s = new Intl.NumberFormat('id-ID', { maximumSignificantDigits: 2 });
  const num = (n) => (n == null ? '–' : nf0.format(n));
  const pct = (p) => (p == null ? '–' : `${nf1.format(p)}%`);
  /** A share that may be tiny: "< 0,01%" rather than a misleading "0%". */
  const share = (p) => (p == null ? '–' : p > 0 && p < 0.01 ? '< 0,01%' : p < 1 ? `${nf2s.format(p)}%` : pct(p));
  /** Large counts the way officials say them: "4,4 juta", "1,2 miliar". */
  function count(n) {
    if (n == null) return '–';
    if (Math.abs(n) >= 1e9) return `${nf1.format(n / 1e9)} miliar`;
    if (Math.abs(n) >= 1e6) return `${nf1.format(n / 1e6)} juta`;
    return num(n);
  }
  const province = (code) => PROVINCES[Number(code)] || (code ? `Provinsi ${code}` : 'Nasional');
  const provinceShort = (code) => SHORT_NAMES[Number(code)] || province(code);
  const scheme = (code) => SCHEMES[code] || String(code).replace(/_/g, ' ');

  /** Rupiah, short: "Rp 1,5 M" (miliar), "Rp 200 jt" (juta), "Rp 2,1 T" (triliun). */
  function rupiah(value) {
    if (value == null) return '–';
    const a = Math.abs(value);
    const sign = value < 0 ? '−' : '';
    for (const [div, unit] of [[1e12, 'T'], [1e9, 'M'], [1e6, 'jt'], [1e3, 'rb']]) {
      if (a >= div) return `${sign}Rp ${nf1.format(a / div)} ${unit}`;
    }
    return `${sign}Rp ${nf0.format(a)}`;
  }
  const rupiahFull = (value) => (value == null ? '–' : `Rp ${nf0.format(value)}`);

  /** Split a label into at most two lines of about ``max`` characters. */
  function wrap(label, max) {
    if (label.length <= max || !label.includes(' ')) return [label];
    const middle = label.length / 2;
    let best = -1;
    for (let i = label.indexOf(' '); i !== -1; i = label.indexOf(' ', i + 1)) {
      if (best === -1 || Math.abs(i - middle) < Math.abs(best - middle)) best = i;
    }
    return [label.slice(0, best), label.slice(best + 1)];
  }

  function clip(text, max) {
    const s = String(text);
    return s.length > max ? `${s.slice(0, max - 1)}…` : s;
  }

  // ---- DOM builders ----------------------------------------------------------------------
  function build(ns, tag, attrs, children) {
    const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value != null && value !== false) el.setAttribute(key, value === true ? '' : value);
    }
    for (const child of [].concat(children == null ? [] : children).flat()) {
      if (child == null || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const h = (tag, attrs, ...children) => build(null, tag, attrs, children);
  const s = (tag, attrs, ...children) => build(SVG_NS, tag, attrs, children);
  const tip = (text) => s('title', null, text);

  let uid = 0;
  /** An accessible SVG chart: role=img, named by its title, described by its desc. */
  function chart(height, title, description) {
    const id = `chart-${++uid}`;
    return s(
      'svg',
      {
        viewBox: `0 0 ${W} ${Math.ceil(height)}`,
        role: 'img',
        'aria-labelledby': `${id}-t ${id}-d`,
        preserveAspectRatio: 'xMinYMin meet',
      },
      s('title', { id: `${id}-t` }, title),
      s('desc', { id: `${id}-d` }, description),
    );
  }

  function text(x, y, content, attrs) {
    return s('text', { x, y, ...(attrs || {}) }, content);
  }

  /** One line of text in several styles: [[content, class], …]; each part follows the last. */
  function spans(x, y, parts, attrs) {
    return s('text', { x, y, ...(attrs || {}) }, parts.filter(Boolean).map(([content, cls], i) =>
      s('tspan', { class: cls || null, dx: i ? 8 : null }, content)));
  }

  function rect(x, y, width, height, attrs) {
    return s('rect', { x, y, width: Math.max(0, width), height, ...(attrs || {}) });
  }

  function hatch(svg, id, color) {
    svg.append(
      s('defs', null,
        s('pattern', {
          id, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)',
        }, s('rect', { width: 2.5, height: 6, fill: color, 'fill-opacity': 0.55 }))),
    );
  }

  function table(caption, columns, rows, rowClass, hideCaption) {
    return h('div', { class: 'table-wrap' }, h('table', null,
      h('caption', { class: hideCaption ? 'visually-hidden' : null }, caption),
      h('thead', null, h('tr', null, columns.map((c) =>
        h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
      h('tbody', null, rows.map((row) =>
        h('tr', { class: rowClass ? rowClass(row) : null }, columns.map((c) =>
          h('td', { class: c.num ? 'num' : null }, c.value(row))))))));
  }

  function figure(value, label, warning) {
    return h('div', { class: warning ? 'figure is-warning' : 'figure' },
      h('div', { class: 'v' }, value), h('div', { class: 'k' }, label));
  }

  function legend(items) {
    return items.map(([cls, label]) => h('span', null, h('i', { class: cls, 'aria-hidden': 'true' }), label));
  }

  const empty = (message) => h('p', { class: 'empty' }, message);

  function sum(rows, key) {
    return rows.reduce((total, row) => total + (Number(row[key]) || 0), 0);
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    const exp = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
      if (value <= step * exp) return step * exp;
    }
    return 10 * exp;
  }

  // ---- sections --------------------------------------------------------------------------
  const MEASURES = {
    enterprises: ['unit IKM', num], workforce: ['tenaga kerja', num],
    investment_idr: ['investasi', rupiah], annual_sales_idr: ['penjualan tahunan', rupiah],
  };

  /** National figures the register is compared with (``reference`` of /kpis/enterprises), if any. */
  function references(d) {
    return Object.entries(d.reference || {})
      .map(([key, f]) => ({ key, ...f }))
      .filter((f) => typeof f.value === 'number' && f.value > 0);
  }

  /** Register vs national figure, one bar pair per figure that names the measure it counts. */
  function referenceChart(figures) {
    const compared = figures.filter((f) => f.measure && f.registered != null);
    if (!compared.length) return [];
    const label = 168;
    const area = 300;
    const svg = chart(compared.length * 58, 'Register dibanding angka rujukan nasional',
      compared.map((f) => `${MEASURES[f.measure] ? MEASURES[f.measure][0] : f.measure}: register ${f.registered} dari ${f.value} ${f.unit}${f.year ? ` (${f.year})` : ''}`).join('; '));
    compared.forEach((f, i) => {
      const y = i * 58;
      const [noun, format] = MEASURES[f.measure] || [f.measure, num];
      const ratio = Math.min(1, f.registered / f.value);
      const coverage = (100 * f.registered) / f.value;
      const big = format === num ? count : format;
      svg.append(s('g', {
        class: 'reference', 'data-reference': f.key, 'data-measure': f.measure,
        'data-value': f.value, 'data-register': f.registered,
      },
      tip(`${f.source}`),
      text(label - 10, y + 13, `Rujukan nasional${f.year ? ` ${f.year}` : ''}`, { 'text-anchor': 'end' }),
      rect(label, y + 2, area, 14, { class: 'reference-bar', rx: 2 }),
      text(label + area + 8, y + 13, `${big(f.value)} ${f.unit}`, { class: 'strong' }),
      text(label - 10, y + 33, `Register (${noun})`, { 'text-anchor': 'end' }),
      rect(label, y + 22, Math.max(3, area * ratio), 14, { class: 'register-bar', rx: 2 }),
      spans(label + Math.max(3, area * ratio) + 8, y + 33, [[format(f.registered), 'strong'], [`(${share(coverage)} dari rujukan)`, 'faint']])));
    });
    return svg;
  }

  function renderProvinces(d) {
    const rows = [...d.rows].sort((a, b) => b.enterprises - a.enterprises
      || String(a.province_code).localeCompare(String(b.province_code)));
    const total = d.total || { enterprises: sum(rows, 'enterprises'), workforce: sum(rows, 'workforce') };
    const figuresOut = references(d);
    const figures = [
      figure(num(total.enterprises), 'unit IKM aktif'),
      figure(num(total.workforce), 'tenaga kerja'),
      figure(`${rows.length} / ${PROVINCE_COUNT}`, 'provinsi dengan IKM terdaftar'),
      figure(rupiah(total.investment_idr), 'nilai investasi'),
    ];
    let note = 'Belum ada angka rujukan nasional (reference figure); ditampilkan register saja.';
    const main = figuresOut.find((f) => f.measure === 'enterprises' && f.registered != null);
    if (main) {
      figures.push(figure(share((100 * main.register) / main.value),
        `dari ${count(main.value)} ${main.unit}${main.year ? ` (${main.year})` : ''}`));
    }
    if (figuresOut.length) {
      note = `Rujukan: ${figuresOut.map((f) => `${count(f.value)} ${f.unit}${f.year ? ` (${f.year})` : ''} — ${f.source}`).join('; ')}`;
    }
    const part = {
      figures,
      legend: legend([
        ['sw-enterprises', 'Unit IKM (enterprises)'], ['sw-workforce', 'Tenaga kerja (workforce)'],
        ...(figuresOut.length ? [['sw-reference', 'Rujukan nasional (reference)']] : []),
      ]),
      reference: referenceChart(figuresOut),
      note,
      table: table('IKM per provinsi', [
        { label: 'Kode', value: (r) => r.province_code },
        { label: 'Provinsi', value: (r) => province(r.province_code) },
        { label: 'Unit IKM', num: true, value: (r) => num(r.enterprises) },
        { label: 'Pangsa', num: true, value: (r) => pct(r.share_pct) },
        { label: 'Tenaga kerja', num: true, value: (r) => num(r.workforce) },
        { label: 'Investasi', num: true, value: (r) => rupiah(r.investment_idr) },
      ], rows),
    };
    if (!rows.length) return { ...part, chart: empty('Belum ada IKM aktif di register.') };

    const rowH = 26;
    const top = 26;
    const label = 168;
    const entX = label;
    const entW = 118;
    const wfX = 420;
    const wfW = 150;
    const maxE = Math.max(...rows.map((r) => r.enterprises), 1);
    const maxW = Math.max(...rows.map((r) => r.workforce), 1);
    const first = rows[0];
    const svg = chart(top + rows.length * rowH + 6, 'IKM per provinsi',
      `${rows.length} provinsi; terbanyak ${province(first.province_code)} dengan ${num(first.enterprises)} unit IKM dan ${num(first.workforce)} tenaga kerja.`);
    svg.append(
      text(entX, 12, 'UNIT IKM', { class: 'head' }),
      text(wfX, 12, 'TENAGA KERJA', { class: 'head' }),
      s('line', { x1: entX, x2: entX, y1: top - 6, y2: top + rows.length * rowH - 4, class: 'axis' }),
      s('line', { x1: wfX, x2: wfX, y1: top - 6, y2: top + rows.length * rowH - 4, class: 'axis' }),
    );
    rows.forEach((r, i) => {
      const y = top + i * rowH;
      const name = province(r.province_code);
      const ew = Math.max(2, (entW * r.enterprises) / maxE);
      const ww = Math.max(r.workforce ? 2 : 0, (wfW * r.workforce) / maxW);
      const summary = `${name}: ${num(r.enterprises)} unit IKM (${pct(r.share_pct)} dari total), ${num(r.workforce)} tenaga kerja`;
      svg.append(s('g', { class: 'province-row', 'data-province': r.province_code, 'data-name': name },
        tip(summary),
        text(label - 10, y + 12, clip(provinceShort(r.province_code), 24), { 'text-anchor': 'end' }),
        rect(entX, y, ew, 16, {
          class: 'bar bar-enterprises', rx: 2, 'data-province': r.province_code,
          'data-value': r.enterprises, 'aria-label': summary,
        }),
        spans(entX + ew + 6, y + 12, [[num(r.enterprises), 'strong'], [`(${pct(r.share_pct)})`, 'faint']]),
        rect(wfX, y, ww, 16, {
          class: 'bar bar-workforce', rx: 2, 'data-province': r.province_code, 'data-value': r.workforce,
        }),
        text(wfX + ww + 6, y + 12, num(r.workforce), { class: 'strong' }),
      ));
    });
    return { ...part, chart: svg };
  }

  function renderBudget(d) {
    const rows = d.rows;
    const t = d.total || {};
    const postponed = rows.filter((r) => r.status === 'postponed');
    const part = {
      figures: [
        figure(rupiah(t.pagu_idr), 'total pagu'),
        figure(rupiah(t.realised_idr), `realisasi · serapan ${pct(t.absorption_pct)}`),
        figure(rupiah(t.reserved_idr), 'dicadangkan (reserved)'),
        figure(rupiah(t.postponed_idr), `ditunda · ${postponed.length} pos anggaran`, postponed.length > 0),
      ],
      legend: legend([
        ['sw-realised', 'Realisasi (realised)'], ['sw-reserved', 'Dicadangkan (reserved)'],
        ['sw-remaining', 'Sisa pagu (remaining)'], ['sw-postponed', 'Ditunda (postponed)'],
      ]),
      table: table('Pos anggaran', [
        { label: 'Pos anggaran', value: (r) => r.budget_line_id },
        { label: 'Program', value: (r) => r.program_name || r.program_code },
        { label: 'TA', value: (r) => r.fiscal_year },
        { label: 'Status', value: (r) => [BUDGET_STATUS[r.status] || r.status, r.status_reason ? ` (${r.status_reason})` : ''] },
        { label: 'Pagu', num: true, value: (r) => rupiah(r.pagu_idr) },
        { label: 'Realisasi', num: true, value: (r) => rupiah(r.realised_idr) },
        { label: 'Dicadangkan', num: true, value: (r) => rupiah(r.reserved_idr) },
        { label: 'Refocus +/−', num: true, value: (r) => `${rupiah(r.refocused_in_idr)} / ${rupiah(r.refocused_out_idr)}` },
        { label: 'Serapan', num: true, value: (r) => pct(r.absorption_pct) },
      ], rows, (r) => (r.status === 'postponed' ? 'is-postponed' : null)),
    };
    if (!rows.length) return { ...part, chart: empty('Belum ada pos anggaran.') };

    const barX = 0;
    const barW = 540;
    const maxPagu = Math.max(...rows.map((r) => r.pagu_idr), 1);
    const notesOf = (r) => (r.status === 'postponed' ? 1 : 0) + (r.refocused_in_idr || r.refocused_out_idr ? 1 : 0);
    const heights = rows.map((r) => 58 + 16 * notesOf(r));
    const svg = chart(heights.reduce((a, b) => a + b, 0), 'Status anggaran per pos anggaran',
      `${rows.length} pos anggaran, total pagu ${rupiah(t.pagu_idr)}, realisasi ${rupiah(t.realised_idr)} (${pct(t.absorption_pct)}). `
      + (postponed.length ? `Ditunda: ${postponed.map((r) => `${r.program_name || r.program_code} (${r.status_reason || 'tanpa alasan'})`).join(', ')}.` : 'Tidak ada pos yang ditunda.'));
    const patternId = `hatch-${uid}`;
    hatch(svg, patternId, '#c23a2b');
    let y = 0;
    rows.forEach((r, i) => {
      const isPostponed = r.status === 'postponed';
      const name = r.program_name || r.program_code;
      const width = (barW * r.pagu_idr) / maxPagu;
      const realised = Math.min(r.realised_idr, r.pagu_idr);
      const reserved = Math.min(r.reserved_idr, Math.max(0, r.pagu_idr - realised));
      const remaining = Math.max(0, r.pagu_idr - realised - reserved);
      const unit = r.pagu_idr > 0 ? width / r.pagu_idr : 0;
      const g = s('g', {
        class: isPostponed ? 'budget-line is-postponed' : 'budget-line',
        'data-line': r.budget_line_id, 'data-program': r.program_code, 'data-status': r.status,
      });
      if (isPostponed) g.append(rect(-6, y - 2, W + 12, heights[i] - 6, { class: 'postponed-band', rx: 6 }));
      const meta = [r.program_name ? r.program_code : null, r.budget_line_id, `TA ${r.fiscal_year}`,
        MECHANISMS[r.mechanism] || r.mechanism, r.province_code ? province(r.province_code) : null];
      const room = Math.floor((W - (isPostponed ? 72 : 0) - 7.4 * Math.min(34, name.length) - 8) / 6.2);
      g.append(spans(barX, y + 14, [[clip(name, 34), 'strong'], [clip(meta.filter(Boolean).join(' · '), room), 'faint']]));
      if (isPostponed) {
        g.append(rect(W - 62, y + 2, 62, 16, { class: 'badge', rx: 3 }),
          text(W - 31, y + 14, 'DITUNDA', { class: 'badge-text', 'text-anchor': 'middle' }));
      }
      const by = y + 22;
      const labels = [];
      let x = barX;
      for (const [value, cls, label] of [
        [realised, 'seg-realised', 'Realisasi'], [reserved, 'seg-reserved', 'Dicadangkan'],
        [remaining, 'seg-remaining', 'Sisa pagu'],
      ]) {
        const w = value * unit;
        if (w <= 0) continue;
        g.append(s('g', { class: `segment ${cls}` },
          rect(x, by, w, 20, { class: cls, 'data-value': value }, ),
          tip(`${name}: ${label} ${rupiahFull(value)}`)));
        if (w > 64) {
          labels.push(text(x + 6, by + 14, rupiah(value), { class: cls === 'seg-remaining' ? 'on-light' : 'on-bar' }));
        }
        x += w;
      }
      if (isPostponed) {
        g.append(rect(barX, by, width, 20, { fill: `url(#${patternId})`, 'aria-hidden': 'true' }),
          rect(barX, by, width, 20, { class: 'postponed-frame' }));
      }
      g.append(...labels);
      g.append(text(barX + width + 8, by + 10, rupiah(r.pagu_idr), { class: 'strong' }),
        text(barX + width + 8, by + 23, `serapan ${pct(r.absorption_pct)}`, { class: 'muted' }));
      const notes = [];
      if (isPostponed) notes.push([`Ditunda: ${r.status_reason || 'tanpa alasan'} — pagu ${rupiah(r.pagu_idr)} dibekukan`, 'alert']);
      if (r.refocused_in_idr || r.refocused_out_idr) {
        const moves = [];
        if (r.refocused_in_idr) moves.push(`+${rupiah(r.refocused_in_idr)} masuk`);
        if (r.refocused_out_idr) moves.push(`−${rupiah(r.refocused_out_idr)} keluar`);
        notes.push([`Refocusing: ${moves.join(', ')} · alokasi awal ${rupiah(r.allocated_idr)}`, 'muted']);
      }
      let ny = by + 37;
      for (const [note, cls] of notes) {
        g.append(text(barX, ny, note, { class: cls }));
        ny += 16;
      }
      svg.append(g);
      y += heights[i];
    });
    return { ...part, chart: svg };
  }

  function renderFunnel(d, names, postponements) {
    const rows = d.rows;
    const part = {
      legend: legend([
        ['sw-enterprises', 'Tahapan (diajukan → disetujui → selesai)'],
        ['sw-revoked', 'Ditolak (rejected)'], ['sw-expired', 'Ditangguhkan (suspended)'],
      ]),
      table: table('Corong pendaftaran', [
        { label: 'Program', value: (r) => names[r.program_code] || r.program_code },
        { label: 'TA', value: (r) => r.fiscal_year },
        ...[...FUNNEL, ...EXITS.slice(0, 2)].map(([key, label]) => ({ label, num: true, value: (r) => num(r[key] || 0) })),
      ], rows),
      impact: renderPostponements(postponements),
    };
    if (!rows.length) return { ...part, chart: empty('Belum ada pendaftaran.') };

    const label = 150;
    const area = 330;
    const rowH = 21;
    const blocks = rows.map((r) => {
      const exits = EXITS.filter(([key], i) => i < 2 || r[key]);
      return { r, exits, height: 26 + (FUNNEL.length + exits.length) * rowH + 14 };
    });
    const svg = chart(blocks.reduce((a, b) => a + b.height, 0), 'Corong pendaftaran per program',
      rows.map((r) => `${names[r.program_code] || r.program_code} ${r.fiscal_year}: ${FUNNEL.map(([k, l]) => `${l.toLowerCase()} ${num(r[k] || 0)}`).join(', ')}; ditolak ${num(r.rejected || 0)}, ditangguhkan ${num(r.suspended || 0)}.`).join(' '));
    let y = 0;
    for (const { r, exits, height } of blocks) {
      const max = Math.max(r.requested || 0, ...FUNNEL.map(([k]) => r[k] || 0), 1);
      const name = names[r.program_code] || r.program_code;
      const g = s('g', { class: 'funnel', 'data-program': r.program_code, 'data-year': r.fiscal_year });
      g.append(spans(0, y + 14, [[clip(name, 40), 'strong'],
        [[name !== r.program_code ? r.program_code : null, `TA ${r.fiscal_year}`].filter(Boolean).join(' · '), 'faint']]));
      let ry = y + 26;
      const cx = label + area / 2;
      for (const [key, stage, cls] of FUNNEL) {
        const value = r[key] || 0;
        const w = Math.max(value ? 3 : 0, (area * value) / max);
        const share = r.requested ? (100 * value) / r.requested : null;
        g.append(s('g', { class: `stage stage-row-${key}`, 'data-stage': key, 'data-value': value },
          tip(`${name} ${r.fiscal_year}: ${stage} ${num(value)}`),
          text(label - 10, ry + 12, stage, { 'text-anchor': 'end' }),
          rect(label, ry, area, 16, { class: 'track', rx: 2 }),
          rect(cx - w / 2, ry, w, 16, { class: cls, rx: 2 }),
          text(label + area + 10, ry + 12, num(value), { class: 'strong' }),
          text(label + area + 40, ry + 12, key === 'requested' ? '' : `${pct(share)} dari diajukan`, { class: 'faint' })));
        ry += rowH;
      }
      for (const [key, stage, cls] of exits) {
        const value = r[key] || 0;
        const w = Math.max(value ? 3 : 0, (area * value) / max);
        g.append(s('g', { class: `stage exit stage-row-${key}`, 'data-stage': key, 'data-value': value },
          tip(`${name} ${r.fiscal_year}: ${stage} ${num(value)}`),
          text(label - 10, ry + 12, stage, { 'text-anchor': 'end', class: 'muted' }),
          rect(label, ry + 2, w, 12, { class: cls, rx: 2 }),
          text(label + w + (w ? 8 : 0), ry + 12, num(value), { class: value ? 'strong' : 'faint' })));
        ry += rowH;
      }
      svg.append(g);
      y += height;
    }
    return { ...part, chart: svg };
  }

  function renderPostponements(d) {
    if (!d) return empty('memuat…');
    if (!d.rows.length) return empty('Tidak ada anggaran yang ditunda.');
    return table('Dampak penundaan per pos anggaran', [
      { label: 'Program / pos anggaran', value: (r) => [h('strong', null, r.program_code), h('br'), h('span', { class: 'nowrap' }, r.budget_line_id), h('br'), `TA ${r.fiscal_year}`] },
      { label: 'Alasan', value: (r) => [r.status === 'postponed' ? h('span', { class: 'tag tag-red' }, 'DITUNDA') : (BUDGET_STATUS[r.status] || r.status), ' ', r.reason || '–'] },
      { label: 'IKM ditangguhkan', num: true, value: (r) => num(r.enterprises_suspended) },
      { label: 'Provinsi terdampak', value: (r) => (r.provinces.length ? r.provinces.map(province).join(', ') : '–') },
      { label: 'Dana dicadangkan tertahan', num: true, value: (r) => rupiah(r.reserved_suspended_idr) },
      { label: 'Pagu ditunda', num: true, value: (r) => rupiah(r.pagu_idr) },
    ], d.rows, (r) => (r.status === 'postponed' ? 'is-postponed' : null), true);
  }

  function renderPartnerships(d) {
    const attainment = (d.total && d.total.attainment) || [];
    const byStage = {};
    for (const r of d.rows) byStage[r.stage] = (byStage[r.stage] || 0) + r.partnerships;
    const years = [...new Set(attainment.map((a) => a.fiscal_year))].sort((a, b) => b - a);
    const part = {
      legend: legend([
        ['sw-achieved', 'Capaian (achieved)'], ['sw-target', 'Target'],
      ]),
      table: h('div', null,
        table('Capaian Link and Match per tahun dan satuan', [
          { label: 'Tahun', value: (a) => a.fiscal_year },
          { label: 'Satuan (unit)', value: (a) => `${(UNITS[a.unit] || [a.unit])[0]} (${(UNITS[a.unit] || [a.unit, a.unit])[1]})` },
          { label: 'Capaian', num: true, value: (a) => num(a.achieved) },
          { label: 'Target', num: true, value: (a) => (a.target == null ? '–' : num(a.target)) },
          { label: '%', num: true, value: (a) => pct(a.attainment_pct) },
        ], attainment),
        table('Kemitraan per perusahaan mitra dan tahap', [
          { label: 'Perusahaan mitra', value: (r) => r.partner_name || r.partner_nib },
          { label: 'Tahap', value: (r) => (STAGES.find(([k]) => k === r.stage) || [0, r.stage])[1] },
          { label: 'Kemitraan', num: true, value: (r) => num(r.partnerships) },
        ], d.rows)),
    };
    let svg;
    if (!attainment.length) {
      svg = empty('Belum ada target atau kemitraan yang ditandatangani.');
    } else {
      const label = 200;
      const area = 260;
      const rowH = 34;
      const perYear = years.map((year) => attainment.filter((a) => a.fiscal_year === year));
      const height = perYear.reduce((total, rows) => total + 24 + rows.length * rowH + 8, 0);
      svg = chart(height, 'Capaian Link and Match dibanding target',
        attainment.map((a) => `${a.fiscal_year}: ${num(a.achieved)} ${(UNITS[a.unit] || [0, 0, a.unit])[2]}${a.target == null ? ' (tanpa target)' : ` dari target ${num(a.target)} (${pct(a.attainment_pct)})`}`).join('; '));
      let y = 0;
      perYear.forEach((rows, i) => {
        svg.append(text(0, y + 15, `Tahun ${years[i]}`, { class: 'strong' }),
          s('line', { x1: 70, x2: W, y1: y + 11, y2: y + 11, class: 'grid-line' }));
        y += 24;
        for (const a of rows) {
          const [unitLabel, english, noun] = UNITS[a.unit] || [a.unit, a.unit, a.unit];
          const max = niceMax(Math.max(a.achieved, a.target || 0) * 1.08);
          const w = (area * a.achieved) / max;
          const met = a.target != null && a.achieved >= a.target;
          const g = s('g', {
            class: 'attainment', 'data-year': a.fiscal_year, 'data-unit': a.unit,
            'data-achieved': a.achieved, 'data-target': a.target == null ? 'none' : a.target,
          }, tip(`${a.fiscal_year} · ${unitLabel} (${english}): ${num(a.achieved)}${a.target == null ? ', belum ada target' : ` dari target ${num(a.target)}`}`));
          g.append(text(label - 10, y + 11, unitLabel, { 'text-anchor': 'end' }),
            text(label - 10, y + 25, `satuan: ${english}`, { 'text-anchor': 'end', class: 'faint' }),
            rect(label, y + 4, area, 20, { class: 'track', rx: 3 }),
            rect(label, y + 4, Math.max(a.achieved ? 3 : 0, w), 20, {
              class: `achieved${met ? ' is-met' : ''}${a.target == null ? ' no-target' : ''}`, rx: 3,
            }));
          if (a.target != null) {
            const tx = label + (area * a.target) / max;
            g.append(s('line', { x1: tx, x2: tx, y1: y, y2: y + 28, class: 'target-mark' }));
          }
          const valueText = a.target == null
            ? [`${num(a.achieved)} ${noun}`, 'target belum ditetapkan']
            : [`${num(a.achieved)} / ${num(a.target)} ${noun}`, `${pct(a.attainment_pct)} dari target`];
          g.append(text(label + area + 12, y + 12, valueText[0], { class: 'strong achieved-value' }),
            text(label + area + 12, y + 26, valueText[1], { class: met ? 'muted' : 'faint' }));
          svg.append(g);
          y += rowH;
        }
        y += 8;
      });
    }

    const stageTotal = Object.values(byStage).reduce((a, b) => a + b, 0);
    let stages;
    if (!stageTotal) {
      stages = empty('Belum ada kemitraan.');
    } else {
      const maxStage = Math.max(...Object.values(byStage), 1);
      const colW = W / STAGES.length;
      const plotH = 70;
      stages = chart(plotH + 44, 'Kemitraan per tahap',
        STAGES.map(([k, l]) => `${l}: ${num(byStage[k] || 0)}`).join(', '));
      STAGES.forEach(([key, stage, english], i) => {
        const value = byStage[key] || 0;
        const bh = value ? Math.max(3, (plotH * value) / maxStage) : 3;
        const x = i * colW + 14;
        stages.append(s('g', { class: 'stage-col', 'data-stage': key, 'data-value': value },
          tip(`${stage} (${english}): ${num(value)} kemitraan`),
          rect(x, 16 + plotH - bh, colW - 28, bh, { class: value ? 'stage-bar' : 'stage-bar is-zero', rx: 2 }),
          text(x + (colW - 28) / 2, 12 + plotH - bh, value ? num(value) : '0',
            { 'text-anchor': 'middle', class: value ? 'strong' : 'faint' }),
          ...wrap(stage, 13).map((part, j) => text(i * colW + colW / 2, plotH + 32 + 13 * j, part,
            { 'text-anchor': 'middle', class: 'muted' }))));
        if (i) stages.append(text(i * colW, 16 + plotH - 4, '›', { 'text-anchor': 'middle', class: 'faint' }));
      });
    }
    return { ...part, chart: svg, stages };
  }

  function renderCertificates(d) {
    const schemes = {};
    for (const r of d.rows) {
      const row = (schemes[r.scheme] = schemes[r.scheme] || { scheme: r.scheme, active: 0, expired: 0, revoked: 0 });
      row[r.status] = (row[r.status] || 0) + r.certificates;
    }
    const rows = Object.values(schemes).sort((a, b) => (b.active + b.expired + b.revoked) - (a.active + a.expired + a.revoked));
    const part = {
      figures: [
        figure(num(sum(rows, 'active')), 'sertifikat aktif'),
        figure(num(sum(rows, 'expired')), 'kedaluwarsa', sum(rows, 'expired') > 0),
        figure(num(sum(rows, 'revoked')), 'dicabut', sum(rows, 'revoked') > 0),
        figure(num(rows.length), 'skema'),
      ],
      legend: legend(CERT_STATUS.map(([k, l, en]) => [`sw-${k}`, `${l} (${en})`])),
      table: table('Sertifikat per skema, provinsi dan status', [
        { label: 'Skema', value: (r) => scheme(r.scheme) },
        { label: 'Provinsi', value: (r) => province(r.province_code) },
        { label: 'Status', value: (r) => (CERT_STATUS.find(([k]) => k === r.status) || [0, r.status])[1] },
        { label: 'Sertifikat', num: true, value: (r) => num(r.certificates) },
      ], d.rows),
    };
    if (!rows.length) return { ...part, chart: empty('Belum ada sertifikat.') };
    const label = 100;
    const area = 290;
    const rowH = 30;
    const max = Math.max(...rows.map((r) => r.active + r.expired + r.revoked), 1);
    const svg = chart(rows.length * rowH, 'Sertifikat per skema',
      rows.map((r) => `${scheme(r.scheme)}: ${r.active} aktif, ${r.expired} kedaluwarsa, ${r.revoked} dicabut`).join('; '));
    rows.forEach((r, i) => {
      const y = i * rowH;
      const g = s('g', { class: 'scheme', 'data-scheme': r.scheme },
        text(label - 10, y + 15, scheme(r.scheme), { 'text-anchor': 'end', class: 'strong' }));
      let x = label;
      for (const [key, status] of CERT_STATUS) {
        const w = (area * r[key]) / max;
        if (!w) continue;
        g.append(s('g', { class: `cert cert-${key}`, 'data-status': key, 'data-value': r[key] },
          tip(`${scheme(r.scheme)}: ${num(r[key])} ${status.toLowerCase()}`),
          rect(x, y + 2, w - 1, 18, { class: `cert-${key}` }),
          w > 22 ? text(x + w / 2, y + 15, num(r[key]), { class: 'on-bar', 'text-anchor': 'middle' }) : null));
        x += w;
      }
      g.append(text(label + area + 12, y + 15,
        CERT_STATUS.map(([k, l]) => `${num(r[k])} ${l.toLowerCase()}`).join(' · '), { class: 'muted' }));
      svg.append(g);
    });
    return { ...part, chart: svg };
  }

  function periodOrder(period) {
    if (period === 'before') return -1;
    if (period === 'after') return 1e9;
    return Number.parseInt(period, 10) || 0;
  }

  function rangeChart(g, y, title, unitLabel, outcomes, minKey, maxKey, format) {
    const label = 150;
    const area = 330;
    const rowH = 24;
    const periods = outcomes.filter((o) => o[minKey] != null || o[maxKey] != null);
    if (!periods.some((o) => o.period === 'before')) periods.unshift({ period: 'before', pending: true });
    if (!periods.some((o) => o.period === 'after')) periods.push({ period: 'after', pending: true });
    const values = periods.flatMap((o) => [o[minKey], o[maxKey]]).filter((v) => v != null);
    const max = niceMax(Math.max(...values, 0) * 1.05);
    g.append(text(0, y + 12, title, { class: 'strong' }),
      text(label + area, y + 12, unitLabel, { class: 'faint', 'text-anchor': 'end' }));
    y += 20;
    // axis: 0, half, max (none while nothing was reported)
    for (const f of values.length ? [0, 0.5, 1] : []) {
      const x = label + area * f;
      g.append(s('line', { x1: x, x2: x, y1: y - 2, y2: y + periods.length * rowH, class: f ? 'grid-line' : 'axis' }),
        text(x, y + periods.length * rowH + 12, format(max * f), { class: 'faint', 'text-anchor': f ? (f === 1 ? 'end' : 'middle') : 'start' }));
    }
    for (const o of periods) {
      const name = `${PERIODS[o.period] || o.period}${o.members ? ` (${num(o.members)} anggota)` : ''}`;
      g.append(text(label - 10, y + 13, name, { 'text-anchor': 'end', class: o.pending ? 'faint' : null }));
      if (o.pending) {
        g.append(rect(label, y + 3, area, 14, { class: 'pending', rx: 3 }),
          text(label + area / 2, y + 14, 'belum dilaporkan', { class: 'faint', 'text-anchor': 'middle' }));
      } else {
        const lo = o[minKey] == null ? o[maxKey] : o[minKey];
        const hi = o[maxKey] == null ? lo : o[maxKey];
        const x1 = label + (area * lo) / max;
        const x2 = label + (area * hi) / max;
        g.append(s('g', { class: 'range-row', 'data-period': o.period, 'data-min': lo, 'data-max': hi },
          tip(`${title} ${PERIODS[o.period] || o.period}: ${format(lo)} – ${format(hi)}`),
          rect(x1, y + 4, Math.max(3, x2 - x1), 12, { class: o.period === 'after' ? 'range is-after' : 'range', rx: 2 }),
          s('line', { x1, x2: x1, y1: y + 1, y2: y + 19, class: 'range-cap' }),
          s('line', { x1: x2, x2, y1: y + 1, y2: y + 19, class: 'range-cap' }),
          text(x2 + 8, y + 14, lo === hi ? format(lo) : `${format(lo)} – ${format(hi)}`, { class: 'strong' })));
      }
      y += rowH;
    }
    return y + (values.length ? 18 : 4);
  }

  function renderSentra(d) {
    const rows = d.rows;
    const part = {
      figures: [
        figure(num(rows.length), 'sentra IKM'),
        figure(num(sum(rows, 'members')), 'anggota (IKM)'),
        figure(num(new Set(rows.map((r) => r.province_code)).size), 'provinsi'),
      ],
      legend: legend([['sw-range', 'Rentang sebelum (min–maks)'], ['sw-achieved', 'Rentang sesudah']]),
      table: table('Hasil sentra per periode', [
        { label: 'Sentra', value: (o) => o.sentra_name },
        { label: 'Periode', value: (o) => PERIODS[o.period] || o.period },
        { label: 'Anggota', num: true, value: (o) => num(o.members) },
        { label: 'Omzet min–maks', num: true, value: (o) => `${rupiah(o.revenue_min_idr)} – ${rupiah(o.revenue_max_idr)}` },
        { label: 'Produksi min–maks', num: true, value: (o) => `${num(o.production_min)} – ${num(o.production_max)} ${UNIT_WORDS[o.production_unit] || o.production_unit || ''}` },
      ], rows.flatMap((r) => (r.outcomes || []).map((o) => ({ ...o, sentra_name: r.name })))),
    };
    if (!rows.length) return { ...part, chart: empty('Belum ada sentra IKM.') };
    const svg = chart(10, 'Hasil sentra IKM', rows.map((r) => `${r.name}: ${num(r.members)} anggota`).join('; '));
    let y = 0;
    for (const r of rows.slice(0, 6)) {
      const outcomes = [...(r.outcomes || [])].sort((a, b) => periodOrder(a.period) - periodOrder(b.period));
      const g = s('g', { class: 'sentra', 'data-sentra': r.sentra_id, 'data-members': r.members });
      const top = y;
      g.append(text(0, y + 16, clip(r.name, 60), { class: 'strong' }),
        text(0, y + 33, `${r.commodity} · ${province(r.province_code)}${r.regency_code ? ` (kab/kota ${r.regency_code})` : ''}${r.village ? ` · ${r.village}` : ''} · sejak ${String(r.designated_on).slice(0, 4)}`, { class: 'muted' }),
        text(W - 8, y + 30, num(r.members), { class: 'big sentra-members', 'text-anchor': 'end', 'data-members': r.members }),
        text(W - 8, y + 46, 'anggota (members)', { class: 'muted', 'text-anchor': 'end' }));
      y += 58;
      const unit = outcomes.find((o) => o.production_unit);
      y = rangeChart(g, y, 'Omzet (revenue) per tahun', 'rupiah/tahun', outcomes, 'revenue_min_idr', 'revenue_max_idr', rupiah);
      y = rangeChart(g, y, 'Produksi (production)', unit ? UNIT_WORDS[unit.production_unit] || unit.production_unit : '',
        outcomes, 'production_min', 'production_max', (v) => num(v));
      g.insertBefore(rect(-8, top - 4, W + 16, y - top + 4, { class: 'sentra-panel', rx: 8 }), g.firstChild);
      svg.append(g);
      y += 16;
    }
    svg.setAttribute('viewBox', `0 0 ${W} ${Math.ceil(y)}`);
    return { ...part, chart: svg };
  }

  function tile(label, value, note, kind) {
    return h('div', { class: kind ? `tile is-${kind}` : 'tile' },
      h('div', { class: 'label' }, label), h('div', { class: 'value' }, value), h('div', { class: 'note' }, note));
  }

  function renderTiles(data) {
    const tiles = [];
    const e = data.enterprises;
    tiles.push(e
      ? tile('Unit IKM', num(e.total.enterprises), `${num(e.rows.length)} provinsi`)
      : tile('Unit IKM', '…', 'memuat'));
    tiles.push(e ? tile('Tenaga kerja', num(e.total.workforce), 'orang (workforce)') : tile('Tenaga kerja', '…', 'memuat'));
    const b = data.budget;
    tiles.push(b
      ? tile('Pagu anggaran', rupiah(b.total.pagu_idr), `realisasi ${rupiah(b.total.realised_idr)} · serapan ${pct(b.total.absorption_pct)}`)
      : tile('Pagu anggaran', '…', 'memuat'));
    const p = data.postponements;
    if (b && p) {
      const suspended = sum(p.rows, 'enterprises_suspended');
      tiles.push(tile('Anggaran ditunda', rupiah(b.total.postponed_idr),
        `${p.rows.length} pos · ${num(suspended)} IKM ditangguhkan`, p.rows.length ? 'warning' : 'good'));
    } else {
      tiles.push(tile('Anggaran ditunda', '…', 'memuat'));
    }
    const ls = data.partnerships;
    const att = ls && ls.total ? ls.total.attainment.filter((a) => a.unit === 'agreements') : [];
    if (att.length) {
      const latest = att.reduce((a, b2) => (b2.fiscal_year > a.fiscal_year ? b2 : a));
      tiles.push(tile(`Link and Match ${latest.fiscal_year}`,
        latest.target == null ? num(latest.achieved) : `${num(latest.achieved)} / ${num(latest.target)}`,
        `perjanjian (agreements)${latest.target == null ? '' : ` · ${pct(latest.attainment_pct)}`}`,
        latest.target != null && latest.achieved >= latest.target ? 'good' : null));
    } else {
      tiles.push(tile('Link and Match', ls ? '0' : '…', 'perjanjian (agreements)'));
    }
    const c = data.certificates;
    if (c) {
      const active = c.rows.filter((r) => r.status === 'active').reduce((a, r) => a + r.certificates, 0);
      const expired = c.rows.filter((r) => r.status === 'expired').reduce((a, r) => a + r.certificates, 0);
      tiles.push(tile('Sertifikat aktif', num(active), `${num(expired)} kedaluwarsa`));
    } else {
      tiles.push(tile('Sertifikat aktif', '…', 'memuat'));
    }
    return tiles;
  }

  // ---- access token ----------------------------------------------------------------------
  // The API wants a bearer token when authentication is on. The page takes it from the address
  // (``/dashboard#token=…``, a fragment never sent to a server), or from the sign-in form, keeps it
  // for this browser tab only (sessionStorage) and removes it from the address bar.
  const TOKEN_KEY = 'ikm.dashboard.token';
  let memoryToken = null;

  function storeToken(value) {
    memoryToken = value || null;
    try {
      if (value) sessionStorage.setItem(TOKEN_KEY, value);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (error) {
      // storage disabled: keep the token in memory only
    }
  }

  function token() {
    if (memoryToken) return memoryToken;
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch (error) {
      return null;
    }
  }

  function takeTokenFromAddress() {
    const params = new URLSearchParams(window.location.hash.slice(1));
    const value = params.get('token');
    if (!value) return;
    storeToken(value.trim());
    params.delete('token');
    const rest = params.toString();
    window.history.replaceState(null, '', window.location.pathname + window.location.search + (rest ? `#${rest}` : ''));
  }

  function authHeaders() {
    const value = token();
    return value ? { Authorization: `Bearer ${value}` } : {};
  }

  class AccessDenied extends Error {
    constructor(status) {
      super(`HTTP ${status}`);
      this.status = status;
    }
  }

  let denied = null;
  function showSignIn(status) {
    const panel = document.getElementById('signin');
    if (!panel) return;
    panel.hidden = status == null;
    if (status == null) return;
    panel.querySelector('[data-part="reason"]').textContent = status === 403
      ? 'Token ini tidak memberi akses ke data laporan (403). Gunakan token dengan peran lain.'
      : token()
        ? 'Token tidak berlaku atau sudah kedaluwarsa (401). Masukkan token baru.'
        : 'Data laporan hanya untuk pengguna yang masuk (401). Masukkan token akses (bearer token).';
  }

  function wireSignIn() {
    const form = document.getElementById('signin-form');
    if (form) {
      form.addEventListener('submit', (event) => {
        event.preventDefault();
        const input = form.querySelector('input');
        storeToken(input.value.trim());
        input.value = '';
        denied = null;
        showSignIn(null);
        if (!running) {
          clearTimeout(timer);
          loop();
        }
      });
    }
    // CSV links go through fetch, so they carry the token too
    document.addEventListener('click', async (event) => {
      const link = event.target.closest && event.target.closest('a.csv');
      if (!link) return;
      event.preventDefault();
      const response = await fetch(link.getAttribute('href'), { headers: authHeaders(), cache: 'no-store' });
      if (response.status === 401 || response.status === 403) {
        showSignIn(response.status);
        return;
      }
      if (!response.ok) return;
      const url = URL.createObjectURL(await response.blob());
      const name = `ikm-${link.getAttribute('href').split('/').pop().split('?')[0]}.csv`;
      const anchor = h('a', { href: url, download: name, hidden: true });
      document.body.append(anchor);
      anchor.click();
      anchor.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    });
  }

  // ---- refresh loop ----------------------------------------------------------------------
  const ENDPOINTS = {
    enterprises: 'enterprises?group_by=province',
    budget: 'budget',
    enrollments: 'enrollments',
    postponements: 'postponements',
    partnerships: 'partnerships',
    certificates: 'certificates',
    sentra: 'sentra',
  };
  const data = {};
  const drawn = {};
  let lastError = null;

  /** Replace the parts of a section in one go, and only if its inputs changed. */
  function draw(sectionId, inputs, render) {
    if (inputs.some((x) => x == null)) return;
    const signature = JSON.stringify(inputs.map((x) => (x && x.rows ? [x.rows, x.total] : x)));
    if (drawn[sectionId] === signature) return;
    drawn[sectionId] = signature;
    const section = document.getElementById(sectionId);
    const parts = render(...inputs);
    for (const [name, content] of Object.entries(parts)) {
      const target = section.querySelector(`[data-part="${name}"]`);
      if (!target) continue;
      if (typeof content === 'string') target.textContent = content;
      else target.replaceChildren(...[].concat(content));
    }
    section.setAttribute('aria-busy', 'false');
  }

  function programNames() {
    const names = {};
    for (const r of (data.budget && data.budget.rows) || []) {
      if (r.program_name) names[r.program_code] = r.program_name;
    }
    return names;
  }

  function renderFreshness() {
    const el = document.getElementById('freshness');
    const source = Object.values(data).find((x) => x && x.freshness);
    const label = el.querySelector('.text');
    const parts = [];
    if (denied) {
      parts.push(denied === 403 ? 'akses ditolak (403)' : 'perlu masuk untuk melihat data (401)');
    } else if (!source) {
      parts.push(lastError ? 'data belum tersedia' : 'memuat data…');
    } else {
      const f = source.freshness;
      const asOf = f.as_of_event_time ? `${dateTime.format(new Date(f.as_of_event_time))} WIB` : 'belum ada peristiwa';
      const time = h('time', { datetime: f.as_of_event_time || '' }, asOf);
      parts.push('data per ', time, `, lag ${num(f.lag)} pesan`);
      el.classList.toggle('is-live', !lastError && f.lag === 0);
      el.classList.toggle('is-lagging', !lastError && f.lag > 0);
    }
    el.classList.toggle('is-error', Boolean(lastError || denied));
    if (denied) {
      el.classList.remove('is-live', 'is-lagging');
      label.replaceChildren(...parts);
      return;
    }
    const updated = lastError
      ? ` · koneksi terputus, menampilkan data terakhir`
      : ` · diperbarui ${clock.format(new Date())}`;
    label.replaceChildren(...parts, h('span', { class: 'updated' }, updated));
  }

  async function fetchKpi(path) {
    const response = await fetch(API + path, {
      headers: { Accept: 'application/json', ...authHeaders() }, cache: 'no-store',
    });
    if (response.status === 401 || response.status === 403) throw new AccessDenied(response.status);
    if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
    return response.json();
  }

  async function refresh() {
    const names = Object.keys(ENDPOINTS);
    const results = await Promise.allSettled(names.map((n) => fetchKpi(ENDPOINTS[n])));
    document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || 0) + 1);
    lastError = null;
    denied = null;
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') data[names[i]] = result.value;
      else if (result.reason instanceof AccessDenied) denied = result.reason.status;
      else lastError = result.reason;
    });
    showSignIn(denied);
    document.body.classList.toggle('is-denied', Boolean(denied));
    if (denied) {
      // without access, keep nothing that was drawn for an earlier token
      for (const name of names) delete data[name];
      for (const name of Object.keys(drawn)) delete drawn[name];
      document.querySelectorAll('main [data-part]').forEach((part) => part.replaceChildren());
      document.getElementById('tiles').replaceChildren();
      renderFreshness();
      return;
    }
    const guard = (fn) => {
      try {
        fn();
      } catch (error) {
        console.error(error); // one broken section must not stop the others
      }
    };
    guard(() => {
      const signature = JSON.stringify(Object.keys(ENDPOINTS).map((n) => data[n] && [data[n].rows, data[n].total]));
      if (drawn.tiles === signature) return;
      drawn.tiles = signature;
      document.getElementById('tiles').replaceChildren(...renderTiles(data));
    });
    guard(() => draw('provinces', [data.enterprises], renderProvinces));
    guard(() => draw('budget', [data.budget], renderBudget));
    guard(() => draw('enrollments', [data.enrollments, programNames(), data.postponements], renderFunnel));
    guard(() => draw('partnerships', [data.partnerships], renderPartnerships));
    guard(() => draw('certificates', [data.certificates], renderCertificates));
    guard(() => draw('sentra', [data.sentra], renderSentra));
    guard(renderFreshness);
  }

  // One refresh at a time; a hidden tab stops polling and catches up when shown again.
  let timer = null;
  let running = false;
  async function loop() {
    timer = null;
    running = true;
    try {
      await refresh();
    } finally {
      running = false;
      if (!document.hidden) timer = setTimeout(loop, POLL_MS);
    }
  }

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && timer == null && !running) loop();
  });
  for (const id of ['provinces', 'budget', 'enrollments', 'partnerships', 'certificates', 'sentra']) {
    const section = document.getElementById(id);
    if (section) section.setAttribute('aria-busy', 'true');
  }
  takeTokenFromAddress();
  wireSignIn();
  loop();
}());
