// Tells the server the browser's time zone in a cookie, so that pages show times in it
// unless the user has chosen a zone on the Account page.
(function () {
  "use strict";
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  var value = encodeURIComponent(zone);
  var sent = document.cookie.split("; ").indexOf("ii_tz=" + value) !== -1;
  if (!sent) {
    document.cookie = "ii_tz=" + value + "; path=/; max-age=31536000; samesite=lax";
  }
})();
