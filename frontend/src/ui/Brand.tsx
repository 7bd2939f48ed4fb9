/** The logo and name; a link home (the caller decides what "home" does). */
export function Brand({ onHome }: { onHome: () => void }) {
  return (
    <a
      className="brand"
      href="/"
      onClick={(e) => {
        e.preventDefault();
        onHome();
      }}
      aria-label="visearch home"
    >
      <svg className="brand-mark" viewBox="0 0 32 32" aria-hidden="true">
        <defs>
          <linearGradient id="brand-g" x1="0" y1="0" x2="1" y2="1">
            <stop offset="0" stopColor="#6366f1" />
            <stop offset="1" stopColor="#ec4899" />
          </linearGradient>
        </defs>
        <rect width="32" height="32" rx="9" fill="url(#brand-g)" />
        <circle cx="14" cy="14" r="6" fill="none" stroke="#fff" strokeWidth="3" />
        <path d="m19 19 6 6" stroke="#fff" strokeWidth="3" strokeLinecap="round" />
      </svg>
      visearch
    </a>
  );
}
