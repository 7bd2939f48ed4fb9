// Refinement: page size, minimum score, label filter, and the text/image balance of a
// combined query. Every control is a labelled native input so keyboards and screen
// readers work without extra code.
import { useEffect, useState } from "react";
import { TOP_K_CHOICES, type Refinement } from "../../lib/query";

interface Props {
  refine: Refinement;
  labels: string[];
  combined: boolean;
  summary: string | null;
  onChange: (next: Refinement) => void;
}

export function RefineBar({ refine, labels, combined, summary, onChange }: Props) {
  // sliders update their label while dragging and commit on release
  const [threshold, setThreshold] = useState(refine.threshold ?? 0);
  const [weight, setWeight] = useState(refine.textWeight);
  useEffect(() => setThreshold(refine.threshold ?? 0), [refine.threshold]);
  useEffect(() => setWeight(refine.textWeight), [refine.textWeight]);

  const commitThreshold = (v: number) => onChange({ ...refine, threshold: v > 0 ? v : null });
  const commitWeight = (v: number) => onChange({ ...refine, textWeight: v });
  const labelOptions = refine.label && !labels.includes(refine.label) ? [refine.label, ...labels] : labels;

  return (
    <div className="refine" role="group" aria-label="Refine results">
      <span className="refine-summary" aria-live="polite" data-testid="result-summary">
        {summary}
      </span>
      <span className="spacer" />
      {combined && (
        <label className="field">
          <span>Image ↔ text</span>
          <input
            type="range"
            min={0}
            max={1}
            step={0.05}
            value={weight}
            aria-label="Text weight in the combined query"
            aria-valuetext={`text weight ${weight.toFixed(2)}`}
            onChange={(e) => setWeight(Number(e.target.value))}
            onPointerUp={() => commitWeight(weight)}
            onKeyUp={() => commitWeight(weight)}
            onBlur={() => weight !== refine.textWeight && commitWeight(weight)}
          />
          <output className="field-value">{Math.round(weight * 100)}% text</output>
        </label>
      )}
      {labelOptions.length > 0 && (
        <label className="field">
          <span>Label</span>
          <select
            value={refine.label ?? ""}
            onChange={(e) => onChange({ ...refine, label: e.target.value || null })}
          >
            <option value="">All</option>
            {labelOptions.map((l) => (
              <option key={l} value={l}>
                {l}
              </option>
            ))}
          </select>
        </label>
      )}
      <label className="field">
        <span>Min score</span>
        <input
          type="range"
          min={0}
          max={1}
          step={0.01}
          value={threshold}
          aria-label="Minimum score"
          aria-valuetext={threshold > 0 ? threshold.toFixed(2) : "any"}
          onChange={(e) => setThreshold(Number(e.target.value))}
          onPointerUp={() => commitThreshold(threshold)}
          onKeyUp={() => commitThreshold(threshold)}
          onBlur={() => threshold !== (refine.threshold ?? 0) && commitThreshold(threshold)}
        />
        <output className="field-value">{threshold > 0 ? threshold.toFixed(2) : "any"}</output>
      </label>
      <label className="field">
        <span>Per page</span>
        <select value={refine.topK} onChange={(e) => onChange({ ...refine, topK: Number(e.target.value) })}>
          {TOP_K_CHOICES.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}
