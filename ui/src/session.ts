// The bearer token the UI sends, kept in the browser's localStorage between visits.
const TOKEN_KEY = "cantata.token";

export function storedToken(storage: Pick<Storage, "getItem"> = localStorage): string {
  return storage.getItem(TOKEN_KEY) ?? "";
}

export function storeToken(token: string, storage: Pick<Storage, "setItem" | "removeItem"> = localStorage): void {
  if (token) storage.setItem(TOKEN_KEY, token);
  else storage.removeItem(TOKEN_KEY);
}
