/**
 * Firestore operations one delivery issued, counted by the job repository so that the delivery
 * log line and the bench can report them (target: 2 writes, 0 reads for a fresh request).
 */
export interface OpCount {
  reads: number;
  writes: number;
}

export function newOpCount(): OpCount {
  return { reads: 0, writes: 0 };
}
