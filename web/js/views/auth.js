// Sign in, sign up (password or emailed code), password reset.

import { adoptTokens, api } from "../api.js";
import { h } from "../dom.js";
import { go } from "../router.js";
import { busy, errorMessage, field, toast } from "../ui.js";

function afterSignIn(pair, query) {
  adoptTokens(pair);
  const next = query.next && query.next.startsWith("/") ? query.next : "/explore";
  const [path, qs = ""] = next.split("?");
  go(path, Object.fromEntries(new URLSearchParams(qs)), { replace: true });
}

function devHint() {
  return h(
    "p",
    { class: "dev-hint", id: "dev-code-hint" },
    "Running the standalone stack (",
    h("code", {}, "make dev"),
    ")? No mail is sent: look in the server's terminal for the line ",
    h("code", {}, "[DEV] auth code created — use this code to log in code=…"),
    " and type the six digits here.",
  );
}

function tabs(labels, contents) {
  const panels = contents.map((content) => h("div", {}, content));
  const buttons = labels.map((label, i) =>
    h("button", { type: "button", role: "tab", id: `tab-${i}`, "aria-controls": `panel-${i}`, "aria-selected": i === 0 ? "true" : "false", tabindex: i === 0 ? "0" : "-1" }, label),
  );
  const select = (i) => {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      panels[j].hidden = i !== j;
    });
  };
  buttons.forEach((b, i) => {
    b.addEventListener("click", () => select(i));
    b.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const next = (i + (e.key === "ArrowRight" ? 1 : buttons.length - 1)) % buttons.length;
      select(next);
      buttons[next].focus();
    });
  });
  panels.forEach((p, i) => {
    p.setAttribute("role", "tabpanel");
    p.id = `panel-${i}`;
    p.setAttribute("aria-labelledby", `tab-${i}`);
    p.hidden = i !== 0;
  });
  return h("div", {}, h("div", { class: "tabs", role: "tablist" }, buttons), panels);
}

/** The emailed-code flow: ask for a code, then verify it (creates the account on first use). */
function codeForm(query, { signUp }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true });
  const send = h("button", { type: "submit", class: "primary" }, "Email me a code");
  const verify = h("button", { type: "submit", class: "primary" }, signUp ? "Create account" : "Sign in");
  const link = h("button", { type: "button", class: "link" }, "Email me a sign-in link instead");
  link.addEventListener("click", () =>
    busy(link, async () => {
      await api.post("/auth/magic-link", { email: email.value.trim() }, { auth: false });
      toast(`If ${email.value.trim()} can receive mail, a sign-in link is on its way. Standalone: the server's terminal shows it as a [DEV] magic link line.`);
    }, form),
  );
  const step2 = h("div", { hidden: true }, devHint(), field("6-digit code", code), h("div", { class: "row" }, verify, h("button", { type: "button", class: "link", onclick: () => form.requestSubmit(send) }, "Send a new code")));
  const form = h(
    "form",
    { novalidate: true, "aria-label": signUp ? "Sign up with an emailed code" : "Sign in with an emailed code" },
    h("p", { class: "muted" }, signUp ? "No password needed: we email you a code and your account is created when you enter it." : "We email you a one-time code."),
    field("Email", email),
    h("div", { class: "row send-row" }, send, link),
    step2,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const sending = e.submitter === send || step2.hidden;
    if (sending) {
      busy(send, async () => {
        await api.post("/auth/code", { email: email.value.trim() }, { auth: false });
        step2.hidden = false;
        send.textContent = "Code sent";
        send.dataset.keepLabel = "1";
        toast(`If ${email.value.trim()} can receive mail, a code is on its way.`);
        code.focus();
      }, form);
    } else {
      busy(verify, async () => {
        const pair = await api.post("/auth/code/verify", { email: email.value.trim(), code: code.value.trim() }, { auth: false });
        afterSignIn(pair, query);
      }, form);
    }
  });
  return form;
}

export function signIn(main, { query }) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const passwordForm = h(
    "form",
    { novalidate: true, "aria-label": "Sign in with a password" },
    field("Email", email),
    field("Password", password),
    h("div", { class: "row" }, submit, h("a", { href: "#/reset" }, "Forgot your password?")),
  );
  passwordForm.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      const pair = await api.post("/auth/login", { email: email.value.trim(), password: password.value }, { auth: false });
      afterSignIn(pair, query);
    }, passwordForm);
  });
  main.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Sign in"),
      tabs(["Password", "Email code"], [passwordForm, codeForm(query, { signUp: false })]),
      h("p", {}, "New here? ", h("a", { href: `#/signup${query.next ? `?next=${encodeURIComponent(query.next)}` : ""}` }, "Create an account")),
    ),
  );
}

export function signUp(main, { query }) {
  const name = h("input", { type: "text", name: "display_name", autocomplete: "nickname", maxlength: "80" });
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Sign up with a password" },
    field("Display name", name, { hint: "Shown beside your personas. Optional." }),
    field("Email", email),
    field("Password", password, { hint: "8 to 72 bytes." }),
    h("div", { class: "row" }, submit),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    busy(submit, async () => {
      const body = { email: email.value.trim(), password: password.value };
      if (name.value.trim()) body.display_name = name.value.trim();
      const pair = await api.post("/auth/register", body, { auth: false });
      afterSignIn(pair, query);
    }, form);
  });
  main.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Create your account"),
      tabs(["Email code", "Password"], [codeForm(query, { signUp: true }), form]),
      h("p", {}, "Already have an account? ", h("a", { href: "#/signin" }, "Sign in")),
    ),
  );
}

export function reset(main) {
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6" });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", minlength: "8" });
  const send = h("button", { type: "submit", class: "primary" }, "Email me a reset code");
  const save = h("button", { type: "submit", class: "primary" }, "Set new password");
  const step2 = h("div", { hidden: true }, devHint(), field("Reset code", code), field("New password", password, { hint: "8 to 72 bytes. Every device is signed out." }), save);
  const form = h("form", { novalidate: true, "aria-label": "Reset your password" }, field("Email", email), h("div", { class: "row" }, send), step2);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (e.submitter === save) {
      busy(save, async () => {
        const pair = await api.post("/auth/password/reset", { email: email.value.trim(), code: code.value.trim(), password: password.value }, { auth: false });
        toast("Password changed. Every other session was signed out.", "success");
        afterSignIn(pair, {});
      }, form);
    } else {
      busy(send, async () => {
        await api.post("/auth/password/forgot", { email: email.value.trim() }, { auth: false });
        step2.hidden = false;
        code.focus();
      }, form);
    }
  });
  main.append(h("section", { class: "panel narrow" }, h("h1", {}, "Reset your password"), form, h("p", {}, h("a", { href: "#/signin" }, "Back to sign in"))));
}

/** `#/magic?token=…`: where a magic link lands (the default `{PUBLIC_URL}/#/magic?token=…`). */
export async function magic(main, { query }) {
  const status = h("p", { role: "status" }, "Signing you in…");
  main.append(h("section", { class: "panel narrow" }, h("h1", {}, "Signing in"), status));
  try {
    const pair = await api.get("/auth/magic-link/verify", { token: query.token || "" }, { auth: false });
    afterSignIn(pair, {});
  } catch (err) {
    status.textContent = `${errorMessage(err)} Links work once and expire; ask for a new one.`;
    main.querySelector("section").append(h("p", {}, h("a", { href: "#/signin" }, "Back to sign in")));
  }
}
