// @ts-check
// `#/u/:id`: a creator's public profile, follow, and their public personas.

import { api } from "../api.js";
import { creatorPersonas, followButton, followCommunity } from "../community.js";
import { h } from "../dom.js";
import { formatCount, initials, plural } from "../ui.js";

/**
 * @param {HTMLElement} main
 * @param {import("../router.js").Context} context
 */
export async function render(main, { params }) {
  const profile = await api.get(`/users/${encodeURIComponent(params.id)}`);
  const followers = h("span", {}, plural(profile.follower_count, "follower"));
  const follow = followButton(profile.id, profile.display_name, profile.followed_by_me, {
    onChange: (state, result) => {
      profile.follower_count =
        result && typeof result.follower_count === "number"
          ? result.follower_count
          : profile.follower_count + (state ? 1 : -1);
      followers.textContent = plural(profile.follower_count, "follower");
    },
  });
  const cards = h("ul", { class: "cards", "aria-label": `Personas by ${profile.display_name}` });
  const sentinel = h("div", { class: "end-of-list" });
  main.append(
    h(
      "section",
      { class: "panel persona-head" },
      h("span", { class: "avatar large", "aria-hidden": "true" }, initials(profile.display_name)),
      h(
        "div",
        { class: "info" },
        h("h1", {}, profile.display_name || "Creator"),
        profile.bio ? h("p", { class: "prose" }, profile.bio) : null,
        h(
          "p",
          { class: "stats" },
          h("span", {}, plural(profile.public_persona_count, "persona")),
          followers,
          h("span", {}, `${formatCount(profile.following_count)} following`),
        ),
        follow,
      ),
    ),
    h("h2", {}, "Personas"),
    cards,
    sentinel,
  );
  const scroll = creatorPersonas(cards, sentinel, profile.id, () =>
    h("p", { class: "muted" }, "No public personas yet."),
  );
  const stopLive = followCommunity();
  return () => {
    scroll.stop();
    stopLive();
  };
}
