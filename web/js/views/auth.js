// @ts-check
// Sign in, sign up (password or emailed code), password reset.

import { ApiError, adoptTokens, api } from "../api.js";
import { h, required } from "../dom.js";
import { destination, goTo, joinHref, reason, rememberNext, safeNext } from "../door.js";
import { busy, errorMessage, field, onSubmit, toast } from "../ui.js";

/** @typedef {Record<string, string>} Query */

/**
 * Signed in: back to the page that sent the visitor here (`next`), else the community.
 * @param {import("../api.js").TokenPair} pair
 * @param {Query} query
 */
function afterSignIn(pair, query) {
  adoptTokens(pair);
  goTo(destination(query));
}

/**
 * Why this page was opened ("Create a free account to chat with personas."), and the way back.
 * @param {Query} query
 * @param {string} lead
 */
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

// Why the sign-in page was opened when the server ended the session (`?ended=`); a key, so a
// link cannot make the page say anything else.
/** @type {Record<string, string>} */
const ENDED = {
  revoked:
    "You were signed out: this session was ended from another device (with “Sign out everywhere”, by revoking it, or by a password change). Sign in again to continue.",
  ended: "Your session has ended: it was signed out elsewhere or has expired. Sign in again to continue.",
  everywhere:
    "You signed out everywhere: every device, this one included, has to sign in again. Your API keys still work.",
};

/** @param {Query} query */
function ended(query) {
  if (!Object.hasOwn(ENDED, query.ended)) return null;
  return h("p", { class: "callout", id: "signed-out-why", role: "status" }, ENDED[query.ended]);
}

const NAME_HINT =
  "What everyone else sees beside your personas and on your profile. Your email address is never shown. Leave it empty and we'll pick a handle like reader-4821; you can change it any time.";

/**
 * The display-name control of a sign-up form; both sign-up forms share what is typed.
 * @param {HTMLInputElement[]} shared
 */
function nameInput(shared) {
  const input = h("input", { type: "text", name: "display_name", autocomplete: "nickname", maxlength: "80" });
  input.addEventListener("input", () => {
    for (const other of shared) if (other !== input) other.value = input.value;
  });
  shared.push(input);
  return input;
}

/** @param {string} [autocomplete] "username" where a password manager should pair it */
function emailInput(autocomplete = "email") {
  return h("input", { type: "email", name: "email", autocomplete, required: true });
}

/** The six digits of an emailed code. */
function codeInput() {
  return h("input", {
    type: "text",
    name: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    pattern: "[0-9]{6}",
    maxlength: "6",
    required: true,
  });
}

/**
 * What finishes a sign-up or a reset: the address, its emailed code and the password.
 * @param {HTMLInputElement} email
 * @param {HTMLInputElement} code
 * @param {HTMLInputElement} password
 */
function withCode(email, code, password) {
  return { email: email.value.trim(), code: code.value.trim(), password: password.value };
}

/**
 * The hidden second step of a form that emails a code: the code, `verify`, and a way to send the
 * code again (`resend`, the form's first submit button).
 * @param {HTMLInputElement} code
 * @param {HTMLButtonElement} verify
 * @param {HTMLButtonElement} resend
 * @param {...HTMLElement} lead shown above the code
 */
function codeStep(code, verify, resend, ...lead) {
  return h(
    "div",
    { hidden: true },
    lead,
    field("6-digit code", code),
    h(
      "div",
      { class: "row" },
      verify,
      h(
        "button",
        { type: "button", class: "link", onclick: () => resend.form?.requestSubmit(resend) },
        "Send a new code",
      ),
    ),
  );
}

// The lines auth_svc prints instead of mailing (auth_svc/notify.py `dev_line`; a test keeps them
// equal).
export const DEV_LINES = {
  code: "[DEV] auth code created — use this code to log in code=…",
  link: "[DEV] magic link created — open this link to log in link=…",
  reset: "[DEV] password reset code created — use this code to reset your password code=…",
};

/** Where the standalone stack "mails" a code: the line to look for in the server's terminal. */
function devHint(line = DEV_LINES.code, id = "dev-code-hint") {
  return h(
    "p",
    { class: "dev-hint", id },
    "Running the standalone stack (",
    h("code", {}, "make dev"),
    ")? No mail is sent: look in the server's terminal for the line ",
    h("code", {}, line),
    " and type the six digits here.",
  );
}

/**
 * Tabs (arrow keys move between them), one panel each.
 * @param {string[]} labels
 * @param {HTMLElement[]} contents
 */
function tabs(labels, contents) {
  const panels = contents.map((content) => h("div", {}, content));
  const buttons = labels.map((label, i) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${i}`,
        "aria-controls": `panel-${i}`,
        "aria-selected": i === 0 ? "true" : "false",
        tabindex: i === 0 ? "0" : "-1",
      },
      label,
    ),
  );
  /** @param {number} i */
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

/**
 * The emailed-code flow: ask for a code, then verify it (creates the account on first use).
 * @param {Query} query
 * @param {{signUp: boolean, names?: HTMLInputElement[]}} options `names`: the sign-up forms' name fields
 */
function codeForm(query, { signUp, names = [] }) {
  const name = signUp ? nameInput(names) : null;
  const email = emailInput();
  const code = codeInput();
  const send = h("button", { type: "submit", class: "primary" }, "Email me a code");
  const verify = h("button", { type: "submit", class: "primary" }, signUp ? "Create account" : "Sign in");
  const link = h("button", { type: "button", class: "link" }, "Email me a sign-in link instead");
  link.addEventListener("click", () =>
    busy(
      link,
      async () => {
        await api.post("/auth/magic-link", { email: email.value.trim() }, { auth: false });
        // The link may open in another tab: it finds the page to come back to there.
        rememberNext(query.next);
        toast(
          `If ${email.value.trim()} can receive mail, a sign-in link is on its way. Standalone: the server's terminal shows it in the line ${DEV_LINES.link}`,
        );
      },
      form,
    ),
  );
  const step2 = codeStep(code, verify, send, devHint());
  const form = h(
    "form",
    { novalidate: true, "aria-label": signUp ? "Sign up with an emailed code" : "Sign in with an emailed code" },
    h(
      "p",
      { class: "muted" },
      signUp
        ? "No password needed: we email you a code and your account is created when you enter it."
        : "We email you a one-time code.",
    ),
    name ? field("Display name", name, { hint: NAME_HINT }) : null,
    field("Email", email),
    h("div", { class: "row send-row" }, send, link),
    step2,
  );
  const sendCode = async () => {
    await api.post("/auth/code", { email: email.value.trim() }, { auth: false });
    step2.hidden = false;
    send.textContent = "Code sent";
    send.dataset.keepLabel = "1";
    toast(`If ${email.value.trim()} can receive mail, a code is on its way.`);
    code.focus();
  };
  const verifyCode = async () => {
    /** @type {{email: string, code: string, display_name?: string}} */
    const body = { email: email.value.trim(), code: code.value.trim() };
    if (name?.value.trim()) body.display_name = name.value.trim();
    const pair = await api.post("/auth/code/verify", body, { auth: false });
    afterSignIn(pair, query);
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (e.submitter === send || step2.hidden) busy(send, sendCode, form);
    else busy(verify, verifyCode, form);
  });
  return form;
}

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export function signIn(main, { query }) {
  const email = emailInput("username");
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const passwordForm = h(
    "form",
    { novalidate: true, "aria-label": "Sign in with a password" },
    field("Email", email),
    field("Password", password),
    h("div", { class: "row" }, submit, h("a", { href: "#/reset" }, "Forgot your password?")),
  );
  onSubmit(passwordForm, submit, async () => {
    const pair = await api.post(
      "/auth/login",
      { email: email.value.trim(), password: password.value },
      { auth: false },
    );
    afterSignIn(pair, query);
  });
  main.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Sign in"),
      ended(query),
      why(query, "Sign in to"),
      tabs(["Password", "Email code"], [passwordForm, codeForm(query, { signUp: false })]),
      h("p", {}, "New here? ", h("a", { href: joinHref(query.why, { next: query.next || "" }) }, "Create an account")),
    ),
  );
}

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export function signUp(main, { query }) {
  /** @type {HTMLInputElement[]} */
  const names = [];
  const name = nameInput(names);
  const email = emailInput();
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "new-password",
    required: true,
    minlength: "8",
  });
  const submit = h("button", { type: "submit", class: "primary" }, "Create account");
  // The server answers every sign-up alike and mails a code; the account exists once the code is
  // entered here (for an address that already has one, the mail's code signs its owner in).
  const code = codeInput();
  const finish = h("button", { type: "submit", class: "primary" }, "Finish sign-up");
  const sentTo = h("p", { class: "callout", role: "status" });
  const step2 = codeStep(code, finish, submit, sentTo, devHint(DEV_LINES.code, "dev-signup-hint"));
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Sign up with a password" },
    field("Display name", name, { hint: NAME_HINT }),
    field("Email", email),
    field("Password", password, { hint: "8 to 72 bytes." }),
    h("div", { class: "row" }, submit),
    step2,
  );
  const register = async () => {
    /** @type {{email: string, password: string, display_name?: string}} */
    const body = { email: email.value.trim(), password: password.value };
    if (name.value.trim()) body.display_name = name.value.trim();
    const answer = await api.post("/auth/register", body, { auth: false });
    // SIGNUP_CONFIRMATION=none: signed up at once.
    if (answer?.access_token) return afterSignIn(answer, query);
    sentTo.textContent = `We sent a code to ${body.email}. Enter it below to finish creating your account (it expires in 10 minutes).`;
    step2.hidden = false;
    code.focus();
  };
  const finishSignUp = async () => {
    // The password goes back with the code: only then does the new account get it.
    const pair = await api.post("/auth/code/verify", withCode(email, code, password), { auth: false });
    afterSignIn(pair, query);
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (e.submitter === finish || (!step2.hidden && e.submitter !== submit)) busy(finish, finishSignUp, form);
    else busy(submit, register, form);
  });
  main.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Create your account"),
      why(query, "Create a free account to"),
      tabs(["Email code", "Password"], [codeForm(query, { signUp: true, names }), form]),
      h(
        "p",
        {},
        "Already have an account? ",
        h("a", { href: joinHref(query.why, { page: "signin", next: query.next || "" }) }, "Sign in"),
      ),
    ),
  );
}

/** @param {HTMLElement} main */
export function reset(main) {
  const email = emailInput();
  const code = h("input", {
    type: "text",
    name: "code",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    maxlength: "6",
  });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password", minlength: "8" });
  const send = h("button", { type: "submit", class: "primary" }, "Email me a reset code");
  const save = h("button", { type: "submit", class: "primary" }, "Set new password");
  const step2 = h(
    "div",
    { hidden: true },
    devHint(DEV_LINES.reset),
    field("Reset code", code),
    field("New password", password, { hint: "8 to 72 bytes. Every device is signed out." }),
    save,
  );
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Reset your password" },
    field("Email", email),
    h("div", { class: "row" }, send),
    step2,
  );
  const sendCode = async () => {
    await api.post("/auth/password/forgot", { email: email.value.trim() }, { auth: false });
    step2.hidden = false;
    code.focus();
  };
  const setPassword = async () => {
    const pair = await api.post("/auth/password/reset", withCode(email, code, password), { auth: false });
    toast("Password changed. Every other session was signed out.", "success");
    afterSignIn(pair, {});
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (e.submitter === save) busy(save, setPassword, form);
    else busy(send, sendCode, form);
  });
  main.append(
    h(
      "section",
      { class: "panel narrow" },
      h("h1", {}, "Reset your password"),
      form,
      h("p", {}, h("a", { href: "#/signin" }, "Back to sign in")),
    ),
  );
}

/**
 * What went wrong with a sign-in link, and what to do next, in a sentence.
 * @param {unknown} err
 * @param {boolean} hasToken
 */
function linkTrouble(err, hasToken) {
  if (!hasToken || (err instanceof ApiError && err.status === 422)) {
    return "This address is missing its sign-in code: the link was probably cut while copying. Open the link from your email again, whole, or ask for a new one below.";
  }
  if (err instanceof ApiError && err.code === "invalid_link") {
    return "This sign-in link has already been used or has expired: each link works once, within 10 minutes. Ask for a new one below, or sign in with your password or an emailed code.";
  }
  if (err instanceof ApiError && err.status === 429) return `${err.message} Then open the link again.`;
  return `${errorMessage(err)} Open the link again in a moment, or ask for a new one below.`;
}

/** A new sign-in link, asked for right where the old one failed. */
function newLinkForm() {
  const email = emailInput();
  const send = h("button", { type: "submit", class: "primary" }, "Email me a new link");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Ask for a new sign-in link" },
    field("Email", email),
    h("div", { class: "row" }, send),
  );
  onSubmit(form, send, async () => {
    await api.post("/auth/magic-link", { email: email.value.trim() }, { auth: false });
    toast(
      `If ${email.value.trim()} can receive mail, a new sign-in link is on its way. Standalone: the server's terminal shows it in the line ${DEV_LINES.link}`,
    );
  });
  return form;
}

/**
 * `#/magic?token=…`: where a magic link lands (the default `{PUBLIC_URL}/#/magic?token=…`).
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export async function magic(main, { query }) {
  const status = h("p", { role: "status" }, "Signing you in…");
  const section = h("section", { class: "panel narrow" }, h("h1", {}, "Signing in"), status);
  main.append(section);
  const token = query.token || "";
  try {
    if (!token) throw new ApiError(422, "validation_error", "no token");
    const pair = await api.get("/auth/magic-link/verify", { token }, { auth: false });
    afterSignIn(pair, {});
  } catch (err) {
    required("h1", section).textContent = "This link did not sign you in";
    status.textContent = linkTrouble(err, Boolean(token));
    status.classList.add("callout");
    section.append(newLinkForm(), h("p", {}, h("a", { href: "#/signin" }, "Back to sign in")));
  }
}
