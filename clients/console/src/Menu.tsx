/** The household's menu (`GET /v1/views/menu`, kept current); admins edit it. */
import type { EventStream } from "@kitchen/client/react";
import { useView } from "@kitchen/client/react";
import { useState, type FormEvent } from "react";

export interface MenuView {
  items: { menuItemId: string; name: string; priceCents: number; available: boolean }[];
}

type Props = {
  admin: boolean;
  putCommand: EventStream["putCommand"];
  run: (label: string, command: ReturnType<EventStream["putCommand"]>) => Promise<void>;
};

const price = (cents: number) => (cents / 100).toFixed(2);

export function Menu({ admin, putCommand, run }: Props) {
  const menu = useView<MenuView>("menu");
  const [id, setId] = useState("");
  const [name, setName] = useState("");
  const [cents, setCents] = useState(500);

  const add = (event: FormEvent) => {
    event.preventDefault();
    void run(`add ${id}`, putCommand("addMenuItem", { menuItemId: id.trim(), name: name.trim(), priceCents: cents }));
    setId("");
    setName("");
  };

  return (
    <section className="menu" data-testid="menu" aria-label="menu">
      <h2>Menu {menu.seq >= 0 && <small>at seq {menu.seq}</small>}</h2>
      {menu.error && <p className="error">{menu.error.message}</p>}
      <ul>
        {(menu.view?.items ?? []).map((item) => (
          <li key={item.menuItemId} data-testid="dish" data-dish={item.menuItemId} className={item.available ? "" : "unavailable"}>
            <span>
              {item.name} <small>({item.menuItemId})</small> {price(item.priceCents)}
            </span>
            {admin && (
              <span className="actions">
                <button onClick={() => run(`toggle ${item.menuItemId}`, putCommand("changeMenuItem", { menuItemId: item.menuItemId, available: !item.available }))}>
                  {item.available ? "make unavailable" : "make available"}
                </button>
                <button onClick={() => run(`remove ${item.menuItemId}`, putCommand("removeMenuItem", { menuItemId: item.menuItemId }))}>remove</button>
              </span>
            )}
          </li>
        ))}
      </ul>
      {admin ? (
        <form onSubmit={add} aria-label="add dish" data-testid="add-dish">
          <input name="menuItemId" placeholder="id" value={id} onChange={(e) => setId(e.target.value)} required />
          <input name="name" placeholder="name" value={name} onChange={(e) => setName(e.target.value)} required />
          <input name="priceCents" type="number" value={cents} onChange={(e) => setCents(Number(e.target.value))} />
          <button type="submit">Add dish</button>
        </form>
      ) : (
        <p className="hint">Only the household's admins change the menu.</p>
      )}
    </section>
  );
}
