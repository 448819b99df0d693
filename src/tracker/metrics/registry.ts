/**
 * A small metrics registry of our own, and its rendering in the Prometheus text format (0.0.4).
 * prom-client works in Deno, but importing it took 450-680 ms on the development machine (Hono
 * takes 38), and an increment with labels ~360 ns, allocating; here a metric is a number or a fixed
 * array, created once, and counting it is an addition. Gauges that follow the tracker's state are
 * read from it when scraped, not kept up to date on every change.
 */

export type MetricType = "counter" | "gauge" | "histogram";

/** A value that only goes up. */
export class Counter {
  value = 0;

  inc(by = 1): void {
    this.value += by;
  }
}

/** Counts of observations per bucket (each bucket counts what is at most its bound), their sum and count. */
export class Histogram {
  readonly bounds: readonly number[];
  /** Not cumulative: counts[i] is what fell in (bounds[i-1], bounds[i]]; the last is above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.counts[i]++;
    this.sum += value;
    this.count++;
  }
}

/** One series of a family: its label values (in the family's label order) and its metric. */
export interface Series<M> {
  labels: readonly string[];
  metric: M;
}

/** Metrics of one name, one per combination of label values. */
export class Family<M extends Counter | Histogram> {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  #make: () => M;
  #series = new Map<string, Series<M>>();

  constructor(options: { name: string; help: string; type: MetricType; labelNames: readonly string[]; make: () => M }) {
    this.name = options.name;
    this.help = options.help;
    this.type = options.type;
    this.labelNames = options.labelNames;
    this.#make = options.make;
  }

  /** The metric of these label values, made on first use: keep it, and count on it, on a hot path. */
  labels(...values: string[]): M {
    const key = values.join("\u0000");
    let series = this.#series.get(key);
    if (!series) {
      if (values.length !== this.labelNames.length) {
        throw new RangeError(`${this.name} takes ${this.labelNames.length} label values, got ${values.length}`);
      }
      series = { labels: values, metric: this.#make() };
      this.#series.set(key, series);
    }
    return series.metric;
  }

  series(): Iterable<Series<M>> {
    return this.#series.values();
  }
}

/** A gauge read when scraped: each series' label values and value. */
export interface GaugeFamily {
  name: string;
  help: string;
  labelNames: readonly string[];
  read: () => Iterable<Series<number>>;
}

/** The metrics of one process, in the order they are rendered. */
export class Registry {
  #families: Array<Family<Counter> | Family<Histogram> | GaugeFamily> = [];
  #names = new Set<string>();

  counter(name: string, help: string, labelNames: readonly string[] = []): Family<Counter> {
    return this.#add(new Family({ name, help, type: "counter", labelNames, make: () => new Counter() }));
  }

  histogram(name: string, help: string, bounds: readonly number[], labelNames: readonly string[] = []) {
    return this.#add(new Family({ name, help, type: "histogram", labelNames, make: () => new Histogram(bounds) }));
  }

  /** A gauge whose series are read from `read` at each scrape. */
  gauge(name: string, help: string, labelNames: readonly string[], read: () => Iterable<Series<number>>): void {
    this.#add({ name, help, labelNames, read });
  }

  #add<F extends Family<Counter> | Family<Histogram> | GaugeFamily>(family: F): F {
    if (this.#names.has(family.name)) throw new RangeError(`A metric "${family.name}" is registered already`);
    this.#names.add(family.name);
    this.#families.push(family);
    return family;
  }

  /** Every metric in the Prometheus text format. */
  render(): string {
    const lines: string[] = [];
    for (const family of this.#families) {
      const type = family instanceof Family ? family.type : "gauge";
      lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${type}`);
      if (!(family instanceof Family)) {
        for (const { labels, metric } of family.read()) {
          lines.push(`${family.name}${labelText(family.labelNames, labels)} ${number(metric)}`);
        }
      } else if (family.type === "histogram") {
        for (const { labels, metric } of (family as Family<Histogram>).series()) {
          renderHistogram(lines, family.name, family.labelNames, labels, metric);
        }
      } else {
        for (const { labels, metric } of (family as Family<Counter>).series()) {
          lines.push(`${family.name}${labelText(family.labelNames, labels)} ${number(metric.value)}`);
        }
      }
    }
    return lines.join("\n") + "\n";
  }
}

/** The content type of render()'s text. */
export const TEXT_FORMAT = "text/plain; version=0.0.4; charset=utf-8";

function renderHistogram(
  lines: string[],
  name: string,
  labelNames: readonly string[],
  labels: readonly string[],
  histogram: Histogram,
): void {
  let cumulative = 0;
  const names = [...labelNames, "le"];
  histogram.bounds.forEach((bound, i) => {
    cumulative += histogram.counts[i];
    lines.push(`${name}_bucket${labelText(names, [...labels, number(bound)])} ${cumulative}`);
  });
  lines.push(`${name}_bucket${labelText(names, [...labels, "+Inf"])} ${histogram.count}`);
  lines.push(`${name}_sum${labelText(labelNames, labels)} ${number(histogram.sum)}`);
  lines.push(`${name}_count${labelText(labelNames, labels)} ${histogram.count}`);
}

function labelText(names: readonly string[], values: readonly string[]): string {
  if (names.length === 0) return "";
  return `{${names.map((name, i) => `${name}="${escapeLabel(values[i])}"`).join(",")}}`;
}

function number(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function escapeHelp(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}
