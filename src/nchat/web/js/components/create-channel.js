// A new channel: its name, public or private, and an optional topic.
import { createChannel } from "../channels.js";
import { html } from "../lib/html.js";
import { showChannel } from "../navigation.js";
import { closeDialog, Dialog } from "./dialog.js";
import { Field } from "./field.js";
import { FormError } from "./form-error.js";
import { useSubmit } from "./use-submit.js";

async function create(values) {
  const channel = await createChannel({
    name: values.name.trim().toLowerCase().replace(/\s+/g, "-"),
    type: values.type === "private" ? "private" : "public",
    topic: values.topic.trim(),
  });
  closeDialog();
  showChannel(channel.id);
}

export function CreateChannelDialog() {
  const { busy, error, fields, onSubmit } = useSubmit(create);
  return html`
    <${Dialog} title="Create a channel" className="create">
      <form method="post" onSubmit=${onSubmit} aria-busy=${busy}>
        <${FormError} error=${error} />
        <${Field} label="Name" name="name" autocomplete="off" autofocus=${true}
          hint="Lower-case letters, digits, - and _ (spaces become -)." error=${fields.name} />
        <fieldset class="field">
          <legend>Who can find it</legend>
          <label class="choice"><input type="radio" name="type" value="public" checked />
            Public: anyone in the workspace can find and join it</label>
          <label class="choice"><input type="radio" name="type" value="private" />
            Private: only people added to it</label>
        </fieldset>
        <${Field} label="Topic" name="topic" required=${false} autocomplete="off" error=${fields.topic} />
        <div class="dialog-actions">
          <button type="button" class="secondary" onClick=${closeDialog}>Cancel</button>
          <button type="submit" disabled=${busy}>${busy ? "Creating…" : "Create channel"}</button>
        </div>
      </form>
    </${Dialog}>
  `;
}
