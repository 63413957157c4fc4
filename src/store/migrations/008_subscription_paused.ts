/** A paused subscription: nothing is posted to it, its deliveries wait (PATCH {"paused": false} resumes them). */
export const sql = `
ALTER TABLE subscriptions ADD COLUMN paused boolean NOT NULL DEFAULT false;
`;
