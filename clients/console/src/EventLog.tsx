/** The events as they arrive, newest first, with their seq. */
import type { EventView } from "@kitchen/client";

export function EventLog({ events }: { events: readonly EventView[] }) {
  return (
    <section className="event-log" aria-label="event log">
      <h2>Events</h2>
      <ul data-testid="event-log">
        {[...events].reverse().map((event) => (
          <li key={event.seq} data-seq={event.seq} data-type={event.type}>
            <code>#{event.seq}</code> {event.type} <small>{event.aggregateId.slice(0, 8)}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}
