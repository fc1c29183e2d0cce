// Sign in, sign up (password or emailed code), password reset.

import { adoptTokens, api } from "../api.js";
import { destination, goTo, joinHref, reason, rememberNext, safeNext } from "../door.js";
import { h } from "../dom.js";
import { busy, errorMessage, field, toast } from "../ui.js";

/** Signed in: back to the page that sent the visitor here (`next`), else the community. */
function afterSignIn(pair, query) {
  adoptTokens(pair);
  goTo(destination(query));
}

/** Why this page was opened ("Create a free account to chat with personas."), and the way back. */
function why(query, lead) {
  const what = reason(query.why);
  if (!what) return null;
  return h(
    "p",
    { class: "callout", id: "why-account" },
    `${lead} ${what}.`,
    safeNext(query.next) ? " You'll come right back to the page you were on." : null,
  );
}

const NAME_HINT =
  "What everyone else sees beside your personas and on your profile. Your email address is never shown. Leave it empty and we'll pick a handle like reader-4821; you can change it any time.";

/** The display-name control of a sign-up form; both sign-up forms share what is typed. */
function nameInput(shared) {
  const input = h("input", { type: "text", name: "display_name", autocomplete: "nickname", maxlength: "80" });
  input.addEventListener("input", () => {
    for (const other of shared) if (other !== input) other.value = input.value;
  });
  shared.push(input);
  return input;
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
function codeForm(query, { signUp, names = [] }) {
  const name = signUp ? nameInput(names) : null;
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const code = h("input", { type: "text", name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true });
  const send = h("button", { type: "submit", class: "primary" }, "Email me a code");
  const verify = h("button", { type: "submit", class: "primary" }, signUp ? "Create account" : "Sign in");
  const link = h("button", { type: "button", class: "link" }, "Email me a sign-in link instead");
  link.addEventListener("click", () =>
    busy(link, async () => {
      await api.post("/auth/magic-link", { email: email.value.trim() }, { auth: false });
      // The link may open in another tab: it finds the page to come back to there.
      rememberNext(query.next);
      toast(`If ${email.value.trim()} can receive mail, a sign-in link is on its way. Standalone: the server's terminal shows it as a [DEV] magic link line.`);
    }, form),
  );
  const step2 = h("div", { hidden: true }, devHint(), field("6-digit code", code), h("div", { class: "row" }, verify, h("button", { type: "button", class: "link", onclick: () => form.requestSubmit(send) }, "Send a new code")));
  const form = h(
    "form",
    { novalidate: true, "aria-label": signUp ? "Sign up with an emailed code" : "Sign in with an emailed code" },
    h("p", { class: "muted" }, signUp ? "No password needed: we email you a code and your account is created when you enter it." : "We email you a one-time code."),
    name ? field("Display name", name, { hint: NAME_HINT }) : null,
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
        const body = { email: email.value.trim(), code: code.value.trim() };
        if (name && name.value.trim()) body.display_name = name.value.trim();
        const pair = await api.post("/auth/code/verify", body, { auth: false });
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
      why(query, "Sign in to"),
      tabs(["Password", "Email code"], [passwordForm, codeForm(query, { signUp: false })]),
      h("p", {}, "New here? ", h("a", { href: joinHref(query.why, { next: query.next || "" }) }, "Create an account")),
    ),
  );
}

export function signUp(main, { query }) {
  const names = [];
  const name = nameInput(names);
  const email = h("input", { type: "email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", required: true, minlength: "8" });
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Sign up with a password" },
    field("Display name", name, { hint: NAME_HINT }),
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
      why(query, "Create a free account to"),
      tabs(["Email code", "Password"], [codeForm(query, { signUp: true, names }), form]),
      h("p", {}, "Already have an account? ", h("a", { href: joinHref(query.why, { page: "signin", next: query.next || "" }) }, "Sign in")),
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
