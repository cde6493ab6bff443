/** Renders benchmark results as a self-contained SVG of horizontal bar panels, for the README. */

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** Ours (highlighted) or a baseline. */
  readonly ours: boolean;
}

export interface Panel {
  readonly title: string;
  readonly unit: string;
  readonly bars: readonly Bar[];
  /** Log scale for values spanning orders of magnitude. */
  readonly log?: boolean;
}

const WIDTH = 960;
const LABEL = 380;
const BAR = 440;
const ROW = 24;

export function renderChart(title: string, panels: readonly Panel[]): string {
  const parts: string[] = [];
  let y = 40;
  for (const panel of panels) {
    parts.push(`<text x="16" y="${y}" class="panel">${escapeXml(panel.title)}</text>`);
    y += 12;
    const max = Math.max(...panel.bars.map((bar) => scale(bar.value, panel.log)), 1e-9);
    for (const bar of panel.bars) {
      const width = Math.max(2, (scale(bar.value, panel.log) / max) * BAR);
      parts.push(
        `<text x="${LABEL - 8}" y="${y + 16}" class="label" text-anchor="end">${escapeXml(bar.label)}</text>`,
        `<rect x="${LABEL}" y="${y + 4}" width="${width.toFixed(1)}" height="${ROW - 8}" rx="3" class="${bar.ours ? "ours" : "base"}"/>`,
        `<text x="${(LABEL + width + 6).toFixed(1)}" y="${y + 16}" class="value">${escapeXml(format(bar.value))} ${escapeXml(panel.unit)}</text>`,
      );
      y += ROW;
    }
    y += 28;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="${escapeXml(title)}" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="system-ui, -apple-system, Segoe UI, sans-serif">`,
    `<title>${escapeXml(title)}</title>`,
    "<style>.title{font-size:18px;font-weight:600}.panel{font-size:14px;font-weight:600}.label,.value{font-size:12px}.ours{fill:#2563eb}.base{fill:#9ca3af}</style>",
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="16" y="24" class="title">${escapeXml(title)}</text>`,
    ...parts,
    "</svg>",
  ].join("\n");
}

const scale = (value: number, log?: boolean) => (log ? Math.log10(Math.max(1, value)) : value);
const format = (value: number) =>
  value >= 100 ? Math.round(value).toLocaleString("en-US") : value >= 1 ? value.toFixed(1) : value.toFixed(3);
const escapeXml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
