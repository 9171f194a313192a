/** A uPlot time chart that follows its series as they change, sized to its container. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartSeries {
  readonly label: string;
  readonly colour: string;
}

export interface ChartProps {
  readonly title: string;
  readonly series: readonly ChartSeries[];
  /** Seconds since the epoch, then one array per series. */
  readonly data: readonly [number[], ...(number | null)[][]];
  readonly height?: number;
}

export function Chart({ title, series, data, height = 220 }: ChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  useEffect(() => {
    const element = box.current;
    if (element === null) return;
    const options: uPlot.Options = {
      title,
      width: Math.max(300, element.clientWidth),
      height,
      series: [{}, ...series.map((one) => ({ label: one.label, stroke: one.colour, width: 2 }))],
      axes: [{}, { size: 60 }],
      // The legend names the series; the figures are in the tiles above.
      legend: { live: false },
      scales: { y: { range: (_u, min, max) => [0, Math.max(1, max, min)] } },
    };
    const made = new uPlot(options, data as uPlot.AlignedData, element);
    plot.current = made;
    const resize = () => made.setSize({ width: Math.max(300, element.clientWidth), height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      made.destroy();
      plot.current = undefined;
    };
    // The chart is made once per set of series; data changes go through setData below.
  }, [title, series.map((one) => one.label).join(), height]);
  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);
  return <div class="chart" ref={box} role="img" aria-label={title} />;
}
