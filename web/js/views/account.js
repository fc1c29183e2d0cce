// @ts-check
// Account: profile, password, sessions (revoke one, sign out everywhere), API keys, sign out.

import { api, currentUser, forget, setUser } from "../api.js";
import { h, uid } from "../dom.js";
import { live } from "../events.js";
import { go } from "../router.js";
import { actionTable, ask, busy, field, getFor, onSubmit, replace, timeAgo, toast } from "../ui.js";
import { userPersonaPanel } from "../whoami.js";
import { apiKeysPanel } from "./keys.js";

/** @param {HTMLButtonElement | null} [button] */
export async function signOut(button = null) {
  await busy(button, async () => {
    try {
      await api.post("/auth/logout", {});
    } finally {
      // Even when the server is unreachable this device forgets its tokens.
      forget();
    }
    go("/signin", {}, { replace: true });
  });
}

/**
 * Every session of the account ends, this one too; the sign-in page says what happened.
 * @param {HTMLButtonElement} button
 */
async function signOutEverywhere(button) {
  const sure = await ask({
    title: "Sign out everywhere?",
    body: "Every device where you are signed in, this one included, is signed out within a second. Your API keys keep working; revoke them below if they are the worry.",
    confirm: "Sign out everywhere",
    danger: true,
  });
  if (!sure) return;
  await busy(button, async () => {
    // This page's own stream is about to be revoked too: it should not race the answer.
    live.stop();
    try {
      await api.del("/auth/sessions");
    } catch (err) {
      live.start();
      throw err;
    }
    forget("everywhere");
  });
}

/**
 * "Firefox on Linux", from a session's User-Agent.
 * @param {string | null | undefined} ua
 */
function describeAgent(ua) {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua)
    ? "Edge"
    : /Chrome\//.test(ua)
      ? "Chrome"
      : /Firefox\//.test(ua)
        ? "Firefox"
        : /Safari\//.test(ua)
          ? "Safari"
          : /python|httpx|curl/i.test(ua)
            ? "API client"
            : "Browser";
  const os = /Android/.test(ua)
    ? "Android"
    : /iPhone|iPad/.test(ua)
      ? "iOS"
      : /Windows/.test(ua)
        ? "Windows"
        : /Mac OS/.test(ua)
          ? "macOS"
          : /Linux/.test(ua)
            ? "Linux"
            : "";
  return os ? `${browser} on ${os}` : browser;
}

/** @param {HTMLElement} container */
async function loadSessions(container) {
  /** @type {{id: string, current: boolean, user_agent?: string | null, [field: string]: any}[] | null} */
  const sessions = await getFor(container, "/auth/sessions");
  if (!sessions) return;
  const rows = sessions.map((s) => {
    const revoke = h("button", { type: "button", class: "small danger" }, s.current ? "Sign out here" : "Revoke");
    revoke.addEventListener("click", async () => {
      if (s.current) {
        await signOut(revoke);
        return;
      }
      const sure = await ask({
        title: "Revoke this session?",
        body: `${describeAgent(s.user_agent)} will be signed out within a second.`,
        confirm: "Revoke",
        danger: true,
      });
      if (!sure) return;
      await busy(revoke, async () => {
        await api.del(`/auth/sessions/${encodeURIComponent(s.id)}`);
        toast("Session revoked.", "success");
        await loadSessions(container);
      });
    });
    return h(
      "tr",
      { dataset: { sessionId: s.id } },
      h(
        "td",
        {},
        describeAgent(s.user_agent),
        s.current ? h("strong", {}, " (this device)") : null,
        h("div", { class: "muted small" }, s.client || ""),
      ),
      h("td", {}, `Signed in ${timeAgo(s.created_at)}`),
      h("td", {}, `Active ${timeAgo(s.last_used_at)}`),
      h("td", {}, revoke),
    );
  });
  replace(
    container,
    actionTable(
      { class: "sessions", caption: "Your signed-in sessions", columns: ["Device", "Started", "Last used"] },
      rows,
    ),
  );
}

/** @param {number} count */
function keysPhrase(count) {
  return count === 1 ? "your API key" : `all ${count} API keys`;
}

/**
 * An account with a password changes it against the current one; the other sessions end.
 * API keys survive unless the box is ticked (it shows only when there are keys), so the user
 * decides in the same step; `keysRevoked` refreshes the keys panel.
 * @param {HTMLElement} sessions the sessions list, read again afterwards
 * @param {() => void} keysRevoked
 */
function changePassword(sessions, keysRevoked) {
  const current = h("input", { type: "password", name: "current_password", autocomplete: "current-password" });
  const next = h("input", { type: "password", name: "password", autocomplete: "new-password", minlength: "8" });
  const keysHint = uid("revoke-keys-hint");
  const revokeKeys = h("input", { type: "checkbox", name: "revoke_api_keys", "aria-describedby": keysHint });
  const keysLabel = h("span", {});
  const keysField = h(
    "div",
    { class: "field", hidden: true },
    h("label", { class: "check" }, revokeKeys, keysLabel),
    h("span", { class: "hint", id: keysHint }, "Unticked, your API keys keep working after the change."),
    h("div", { class: "field-error", id: uid("revoke-api-keys-error"), hidden: true }),
  );
  let keyCount = 0;
  let asked = 0;
  // Counted when the form shows and again when focus enters it (a key may have been made since);
  // only the latest answer counts, so one sent before a change cannot undo its result.
  const countKeys = async () => {
    const mine = ++asked;
    let keys;
    try {
      keys = await api.get("/auth/api-keys");
    } catch {
      return;
    }
    if (mine !== asked) return;
    keyCount = keys.length;
    keysLabel.textContent = `Also revoke ${keysPhrase(keyCount)}`;
    keysField.hidden = keyCount === 0;
  };
  const save = h("button", { type: "submit" }, "Change password");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Change your password" },
    field("Current password", current),
    field("New password", next, { hint: "8 to 72 bytes. Your other sessions are signed out." }),
    keysField,
    save,
  );
  form.addEventListener("focusin", (e) => {
    if (!form.contains(/** @type {Node | null} */ (e.relatedTarget))) countKeys();
  });
  countKeys();
  onSubmit(form, save, async () => {
    const revoking = !keysField.hidden && revokeKeys.checked;
    await api.post("/auth/password/change", {
      current_password: current.value,
      password: next.value,
      revoke_api_keys: revoking,
    });
    current.value = "";
    next.value = "";
    revokeKeys.checked = false;
    const keys = revoking
      ? ` and ${keysPhrase(keyCount)} revoked`
      : keyCount
        ? `; ${keysPhrase(keyCount)} still ${keyCount === 1 ? "works" : "work"}`
        : "";
    toast(`Password changed. Your other sessions were signed out${keys}.`, "success");
    if (revoking) keysRevoked();
    await Promise.all([loadSessions(sessions), countKeys()]);
  });
  return [h("h2", { id: "password-title" }, "Password"), form];
}

/**
 * An account made with an emailed code or link has no password yet: it sets one, no current one asked.
 * @param {import("../api.js").User} user
 * @param {() => void} done
 */
function setPassword(user, done) {
  const next = h("input", { type: "password", name: "password", autocomplete: "new-password", minlength: "8" });
  const save = h("button", { type: "submit", class: "primary" }, "Set password");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Set a password" },
    h(
      "p",
      { class: "muted" },
      "You sign in with emailed codes and have no password yet. Set one to sign in with your email and a password too.",
    ),
    field("New password", next, { hint: "8 to 72 bytes." }),
    save,
  );
  onSubmit(form, save, async () => {
    await api.post("/auth/password/change", { password: next.value });
    next.value = "";
    setUser({ ...(currentUser() || user), has_password: true });
    toast("Password set. You can now sign in with it.", "success");
    done();
  });
  return [h("h2", { id: "password-title" }, "Set a password"), form];
}

/** @param {HTMLElement} main */
export async function render(main) {
  const user = currentUser() || (await api.get("/auth/me"));
  const name = h("input", {
    type: "text",
    name: "display_name",
    value: user.display_name || "",
    maxlength: "80",
    required: true,
  });
  const bio = h("textarea", { name: "bio", value: user.bio || "", maxlength: "1000" });
  const saveProfile = h("button", { type: "submit", class: "primary" }, "Save profile");
  const profileForm = h(
    "form",
    { novalidate: true, "aria-label": "Profile" },
    field("Display name", name, {
      hint: "What everyone else sees: on your profile, beside your personas, in notifications.",
    }),
    field("Bio", bio, { hint: "Shown on your public profile." }),
    saveProfile,
  );
  onSubmit(profileForm, saveProfile, async () => {
    const updated = await api.patch("/auth/me", { display_name: name.value.trim(), bio: bio.value });
    setUser(updated);
    toast("Profile saved.", "success");
  });

  const sessions = h("div", {}, h("p", { class: "muted" }, "Loading sessions…"));
  const passwordPanel = h("section", { class: "panel", "aria-labelledby": "password-title" });
  let keysPanel = apiKeysPanel();
  const reloadKeys = () => {
    const fresh = apiKeysPanel();
    keysPanel.replaceWith(fresh);
    keysPanel = fresh;
  };
  /** @param {boolean} hasPassword */
  const showPassword = (hasPassword) =>
    replace(
      passwordPanel,
      ...(hasPassword ? changePassword(sessions, reloadKeys) : setPassword(user, () => showPassword(true))),
    );
  showPassword(user.has_password);

  const signOutButton = h("button", { type: "button", class: "danger", id: "sign-out" }, "Sign out");
  signOutButton.addEventListener("click", () => signOut(signOutButton));
  const everywhere = h("button", { type: "button", class: "danger", id: "sign-out-everywhere" }, "Sign out everywhere");
  everywhere.addEventListener("click", () => signOutEverywhere(everywhere));

  main.append(
    h("div", { class: "page-head" }, h("h1", {}, "Your account"), signOutButton),
    h(
      "p",
      { class: "muted" },
      `Signed in as ${user.email} (only you see your address). `,
      h("a", { href: `#/u/${encodeURIComponent(user.id)}` }, "See your public profile"),
      " · ",
      h("a", { href: "#/settings" }, "Content settings (adult personas)"),
    ),
    h("div", { class: "grid-2" }, h("section", { class: "panel" }, h("h2", {}, "Profile"), profileForm), passwordPanel),
    userPersonaPanel(),
    h(
      "section",
      { class: "panel", "aria-labelledby": "sessions-title" },
      h("div", { class: "page-head" }, h("h2", { id: "sessions-title" }, "Sessions"), everywhere),
      h(
        "p",
        { class: "muted" },
        "Every device where you are signed in. Revoking one signs it out within a second; “Sign out everywhere” signs out all of them, this one too.",
      ),
      sessions,
    ),
    keysPanel,
  );
  await loadSessions(sessions);
}
