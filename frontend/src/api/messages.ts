// What to tell a person when the API says no. The API's `error.message` is written for
// developers ("text: String should have at most 2000 characters"); the UI shows a sentence
// chosen by `error.code` and keeps the API's words as the detail. Codes: docs/api.md.

const BY_CODE: Record<string, string> = {
  empty_query: "Type some words, or add an image, to search.",
  empty_body: "The search could not be sent. Reload the page and try again.",
  invalid_json: "The search could not be sent. Reload the page and try again.",
  blocked_url:
    "visearch does not fetch images from private or local network addresses. Use a public image URL, or save the image and drop it here.",
  invalid_url: "That is not a valid image address. Check the URL, or save the image and drop it here.",
  fetch_disabled: "This server does not fetch images from URLs. Save the image and drop it here instead.",
  fetch_failed: "The image at that URL could not be downloaded. Check the address, or save the image and drop it here.",
  dns_failed: "The website in that URL could not be found. Check the address.",
  fetch_timeout: "The website with that image took too long to answer. Try again, or save the image and drop it here.",
  not_an_image: "That URL leads to a page, not an image. Open the image itself and copy its address.",
  unsupported_format: "That file is not an image visearch can read. Use a JPEG, PNG, WebP, GIF, BMP or TIFF file.",
  corrupt: "That image file is damaged or incomplete.",
  empty: "That image file is empty.",
  invalid_base64: "That image could not be read. Try saving it as a file and dropping it here.",
  too_large: "That image is too large.",
  too_many_pixels: "That image has too many pixels to process. Try a smaller version.",
  not_found: "That image is no longer in the index.",
  invalid_id: "That image id is not valid.",
  store_unavailable: "The image index is not available right now. Try again in a moment.",
  model_unavailable: "The search model is not available right now. Try again in a moment.",
  collection_mismatch:
    "The image index was built with a different model than the one running now. Ask the administrator to re-index or restart with the original model.",
  internal_error: "Something went wrong on the server. Try again; if it keeps happening, the server log says why.",
};

/** A sentence for a request the validator rejected: which setting, in words. */
function invalidRequest(detail: string): string {
  const tooLong = /^text: .*at most (\d+) characters/i.exec(detail);
  if (tooLong) return `The search text is too long: use at most ${Number(tooLong[1]).toLocaleString("en")} characters.`;
  if (/^text_weight:/.test(detail)) return "The text/image balance must be between 0 and 1.";
  if (/^threshold:/.test(detail)) return "The minimum score must be between 0 and 1.";
  if (/^(top_k|offset):/.test(detail)) return "That page of results is out of range. Start the search again.";
  return "Some of the search settings are not valid. Clear the filters and try again.";
}

/**
 * The sentence to show for an API error `code`; `detail` is the API's own message, used
 * when the code has no sentence of its own (it is then usually already for people, such as
 * an unknown filter field).
 */
export function humanMessage(code: string, detail: string): string {
  if (code === "invalid_request") return invalidRequest(detail);
  return BY_CODE[code] ?? detail;
}
