// Yields to the browser's event loop for one task: input and painting run, then we continue.
// A MessageChannel message is not clamped to 4 ms the way nested setTimeout calls are.
export function nextTask() {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });
}
