/** The ceiling's one activity: it reports that it ran, in-process, so nothing else is measured. */
export function createCeilingActivities(onTouch: (key: string) => void) {
  return {
    async touch(key: string): Promise<void> {
      onTouch(key);
    },
  };
}

export type CeilingActivities = ReturnType<typeof createCeilingActivities>;
