import type { DocumentReference, Firestore } from '@google-cloud/firestore';

/** A store over the jobs collection: the client it was handed and the collection's name. */
export abstract class JobCollection {
  protected readonly firestore: Firestore;
  protected readonly collection: string;

  constructor(firestore: Firestore, collection: string) {
    this.firestore = firestore;
    this.collection = collection;
  }

  /** The job document `docId`. */
  ref(docId: string): DocumentReference {
    return this.firestore.collection(this.collection).doc(docId);
  }
}
