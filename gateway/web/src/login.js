// The sign-in page: the token goes to /auth/login once, and comes back as an HttpOnly cookie.
// Without script the form posts by itself; with it, a wrong token is said without a reload.

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
if (new URLSearchParams(location.search).has("failed")) error.textContent = "That is not the API token.";

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  error.textContent = "";
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ token: document.getElementById("token").value }),
      credentials: "same-origin",
    });
    if (response.ok) {
      location.assign("/");
      return;
    }
    const body = await response.json().catch(() => ({}));
    error.textContent = `${body.detail || `HTTP ${response.status}`}${body.correlation_id ? ` (request id ${body.correlation_id})` : ""}`;
  } catch (err) {
    error.textContent = `The gateway cannot be reached: ${err.message}`;
  } finally {
    button.disabled = false;
  }
});
