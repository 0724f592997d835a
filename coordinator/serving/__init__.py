"""The Serving API: conversion jobs, deployments, tests, halext requests."""
