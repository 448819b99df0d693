/**
 * A job's `needs`, drawn on the server: the file's tasks in layers (a task one layer right of the last
 * it needs), as SVG when small, as a layered list when larger, and only named when too large to draw.
 * The layers come from a queue (Kahn's order), never recursion; the size is bounded before any walk.
 */
import type { TemplateProgress } from "../queries.ts";

/** Tasks of a file drawn as boxes and lines. */
const SVG_MAX = 60;
/** Tasks of a file listed by layer; past it the graph is only described. */
const LIST_MAX = 500;

const BOX_W = 170;
const BOX_H = 30;
const GAP_X = 56;
const GAP_Y = 12;
const NAME_CHARS = 20;

export interface GraphTask {
  name: string;
  needs?: string[];
}

export interface GraphProps {
  tasks: GraphTask[];
  /** How each task stands while the job runs; null once it ended (boxes without a state). */
  progress: Map<string, TemplateProgress> | null;
}

/** The layer of each task: 0 for those that need nothing, else one more than the deepest it needs. */
export function layers(tasks: GraphTask[]): number[] {
  const index = new Map(tasks.map((t, i) => [t.name, i]));
  const waiting = tasks.map(() => 0);
  const dependents: number[][] = tasks.map(() => []);
  tasks.forEach((task, i) => {
    for (const need of new Set(task.needs ?? [])) {
      const j = index.get(need);
      if (j === undefined || j === i) continue;
      dependents[j].push(i);
      waiting[i]++;
    }
  });
  const layer = tasks.map(() => 0);
  const ready = tasks.map((_, i) => i).filter((i) => waiting[i] === 0);
  for (let head = 0; head < ready.length; head++) {
    const i = ready[head];
    for (const d of dependents[i]) {
      layer[d] = Math.max(layer[d], layer[i] + 1);
      if (--waiting[d] === 0) ready.push(d);
    }
  }
  return layer;
}

export function DependencyGraph(props: GraphProps) {
  const { tasks } = props;
  if (!tasks.some((t) => (t.needs ?? []).length > 0)) return null;
  if (tasks.length > LIST_MAX) {
    return <p class="note">The job file has {tasks.length} tasks with needs: too many to draw here.</p>;
  }
  const layer = layers(tasks);
  return (
    <section class="graph">
      <h2>Dependencies</h2>
      {tasks.length <= SVG_MAX ? <GraphSvg {...props} layer={layer} /> : <GraphList {...props} layer={layer} />}
    </section>
  );
}

function stateOf(props: GraphProps, name: string): string {
  return props.progress?.get(name)?.state ?? "ended";
}

function label(props: GraphProps, name: string): string {
  const short = name.length > NAME_CHARS ? `${name.slice(0, NAME_CHARS - 1)}…` : name;
  const p = props.progress?.get(name);
  return p && p.tasks > 1 ? `${short} ${p.succeeded}/${p.tasks}` : short;
}

function GraphSvg(props: GraphProps & { layer: number[] }) {
  const { tasks, layer } = props;
  const rows: number[] = [];
  const at = tasks.map((_, i) => {
    const row = rows[layer[i]] ?? 0;
    rows[layer[i]] = row + 1;
    return { x: layer[i] * (BOX_W + GAP_X), y: row * (BOX_H + GAP_Y) };
  });
  const width = (Math.max(...layer) + 1) * (BOX_W + GAP_X) - GAP_X;
  const height = Math.max(...rows) * (BOX_H + GAP_Y) - GAP_Y;
  const index = new Map(tasks.map((t, i) => [t.name, i]));
  const edges = tasks.flatMap((task, i) =>
    [...new Set(task.needs ?? [])].flatMap((need) => {
      const j = index.get(need);
      if (j === undefined || j === i) return [];
      const [from, to] = [at[j], at[i]];
      const [x1, y1, x2, y2] = [from.x + BOX_W, from.y + BOX_H / 2, to.x, to.y + BOX_H / 2];
      const mid = (x1 + x2) / 2;
      return [<path class="edge" d={`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} />];
    })
  );
  return (
    <div class="graph-scroll">
      <svg
        class="graph-svg"
        width={width + 2}
        height={height + 2}
        viewBox={`-1 -1 ${width + 2} ${height + 2}`}
        role="img"
        aria-label="The job's tasks and what each needs"
      >
        {edges}
        {tasks.map((task, i) => (
          <g class={`node node-${stateOf(props, task.name)}`}>
            <title>{task.name} ({stateOf(props, task.name)})</title>
            <rect x={at[i].x} y={at[i].y} width={BOX_W} height={BOX_H} rx="5" />
            <text x={at[i].x + 10} y={at[i].y + BOX_H / 2 + 4}>{label(props, task.name)}</text>
          </g>
        ))}
      </svg>
    </div>
  );
}

function GraphList(props: GraphProps & { layer: number[] }) {
  const byLayer: GraphTask[][] = [];
  props.tasks.forEach((task, i) => (byLayer[props.layer[i]] ??= []).push(task));
  return (
    <ol class="layers">
      {byLayer.map((group) => (
        <li>
          {group.map((task) => (
            <span
              class={`node-item node-${stateOf(props, task.name)}`}
              title={`needs: ${(task.needs ?? []).join(", ") || "nothing"}`}
            >
              {label(props, task.name)}
            </span>
          ))}
        </li>
      ))}
    </ol>
  );
}
