// Refreshes the home page while a server is starting or stopping, so its state stays current.
(function () {
  if (document.querySelector('.server.starting, .server.stopping')) {
    setTimeout(() => window.location.reload(), 3000);
  }
})();
