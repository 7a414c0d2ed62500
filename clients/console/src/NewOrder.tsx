/** Places an order for one dish of the menu (or any dish id typed in). */
import type { EventStream } from "@kitchen/client/react";
import { useView } from "@kitchen/client/react";
import { useState, type FormEvent } from "react";
import type { MenuView } from "./Menu";

type Props = {
  userId: string;
  putCommand: EventStream["putCommand"];
  run: (label: string, command: ReturnType<EventStream["putCommand"]>) => Promise<void>;
};

export function NewOrder({ userId, putCommand, run }: Props) {
  const menu = useView<MenuView>("menu");
  const [dish, setDish] = useState("");
  const [quantity, setQuantity] = useState(1);
  const [notes, setNotes] = useState("");
  const dishes = (menu.view?.items ?? []).filter((i) => i.available);
  const chosen = dish || dishes[0]?.menuItemId || "";

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const item: Record<string, unknown> = { menuItemId: chosen, quantity };
    if (notes.trim()) item.specialInstructions = notes.trim();
    void run("new order", putCommand("createOrder", { orderId: crypto.randomUUID(), userId, items: [item] }));
    setNotes("");
  };

  return (
    <form className="new-order" onSubmit={submit} aria-label="new order">
      <label>
        Dish
        <input name="dish" list="dishes" value={chosen} onChange={(e) => setDish(e.target.value)} required />
        <datalist id="dishes">
          {dishes.map((d) => (
            <option key={d.menuItemId} value={d.menuItemId}>
              {d.name}
            </option>
          ))}
        </datalist>
      </label>
      <label>
        Quantity
        <input name="quantity" type="number" value={quantity} onChange={(e) => setQuantity(Number(e.target.value))} />
      </label>
      <label>
        Notes
        <input name="notes" value={notes} onChange={(e) => setNotes(e.target.value)} />
      </label>
      <button type="submit">Place order</button>
    </form>
  );
}
