import { useState } from "react";
import type { ApiError } from "../../api/client";
import type { Stats } from "../../api/types";
import { AlertIcon } from "../../ui/icons";

interface Props {
  stats: Stats | null;
  error: ApiError | null;
  loading: boolean;
}

/** The footer line: is the service up, which model on which device, how many images. */
export function StatusBar({ stats, error, loading }: Props) {
  const down = error !== null;
  const state = down ? "down" : loading && !stats ? "connecting" : "up";
  return (
    <footer className="statusbar" aria-label="Service status">
      <span className={`dot dot-${state}`} aria-hidden="true" />
      <span role="status" aria-live="polite" className="status-text">
        {state === "down" && "API unreachable"}
        {state === "connecting" && "Connecting…"}
        {state === "up" && stats && (
          <>
            <span data-testid="image-count">{stats.count.toLocaleString()}</span>{" "}
            {stats.count === 1 ? "image" : "images"}
          </>
        )}
      </span>
      {stats && (
        <>
          <span className="sep" aria-hidden="true">·</span>
          <span title={`requested: ${stats.model.requested_model}`}>
            model <strong data-testid="model-id">{stats.model.model_id}</strong>
          </span>
          <span className="sep" aria-hidden="true">·</span>
          <span>
            device <strong data-testid="device">{stats.model.device}</strong>
          </span>
          {stats.model.fallback && (
            <span className="badge badge-warn" data-testid="fallback-badge">
              <AlertIcon width={14} height={14} /> fallback model, English only
            </span>
          )}
          <span className="spacer" />
          <span className="muted">
            {stats.store.backend} · v{stats.version}
          </span>
        </>
      )}
    </footer>
  );
}

interface BannerProps {
  stats: Stats | null;
  error: ApiError | null;
  onRetry: () => void;
}

const narrowScreen = () => typeof window.matchMedia === "function" && window.matchMedia("(max-width: 600px)").matches;

/**
 * Loud warnings that change what the results mean: API down, or a fallback model. The
 * fallback notice folds to one line (a native <details>), folded from the start on phones.
 */
export function ServiceBanner({ stats, error, onRetry }: BannerProps) {
  const [startOpen] = useState(() => !narrowScreen());
  if (!error && !stats?.model.fallback) return null;
  return (
    <section className="banner-slot" aria-label="Service notice">
      {error ? (
        <div className="banner banner-error" role="alert" data-testid="api-down">
          <AlertIcon />
          <div>
            <strong>The search service is unavailable.</strong> {error.message}
          </div>
          <button type="button" className="btn btn-small" onClick={onRetry}>
            Retry
          </button>
        </div>
      ) : (
        stats && (
          <details className="banner banner-warn banner-fold" data-testid="fallback-warning" open={startOpen}>
            <summary>
              <AlertIcon />
              <span>
                <strong>Running a fallback model: English only.</strong> <span className="banner-more">Why?</span>
              </span>
            </summary>
            <p>
              The requested model <code>{stats.model.requested_model}</code> could not be loaded, so searches use{" "}
              <code>{stats.model.model_id}</code>. It understands English words only, and its results are less accurate.
            </p>
          </details>
        )
      )}
    </section>
  );
}
